#!/usr/bin/env bash
# Sets up everything in ./.venv (Rust extension built by maturin, the Python package, test tools) and runs every test:
# the pure-Rust core with cargo test, then pytest over the Python package and the compiled extension.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
python -m pip install --disable-pip-version-check -q -e ".[test,bench,bench-peers]"
cargo test --workspace --quiet
python -m pytest -q "$@"
