#!/usr/bin/env bash
# Static checks, run by scripts/test.sh before the tests (so by .ci/run too): ruff over the Python tree, mypy over the
# ftvm package (which checks both placement engines against the PlacementEngine Protocol, the Rust one through its
# stub), stubtest (that stub against the compiled module), clippy and rustfmt over the Rust core. Configuration:
# pyproject.toml ([tool.ruff], [tool.mypy]) and rustfmt.toml. Needs the tools of the `test` extra and the built
# extension, as test.sh installs them: run it after test.sh once, with the .venv (`. scripts/venv.sh` does both).
set -euo pipefail
cd "$(dirname "$0")/.."

check() {
  local name=$1 start
  shift
  start=$(date +%s%N)
  "$@"
  echo "check: $name passed in $(( ($(date +%s%N) - start) / 1000000 )) ms"
}

check "ruff check" python -m ruff check --quiet .
check "ruff format" python -m ruff format --check --quiet .
check "mypy" python -m mypy
check "stubtest" python -m mypy.stubtest ftvm._placement --mypy-config-file pyproject.toml
check "cargo fmt" cargo fmt --all --check
check "cargo clippy" cargo clippy --quiet --package placement_core --all-targets --features python -- -D warnings
