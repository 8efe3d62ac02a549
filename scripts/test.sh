#!/usr/bin/env bash
# Sets up everything (Rust extension built by maturin, the Python package, test tools) and runs every test:
# the pure-Rust core with cargo test, then pytest over the Python package and the compiled extension.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --disable-pip-version-check --root-user-action=ignore -q -e ".[test,bench-peers]"
cargo test --workspace --quiet
python3 -m pytest -q "$@"
