#!/usr/bin/env bash
# Sets up everything in ./.venv (Rust extension built by maturin, the Python package, test tools), runs the static
# checks (scripts/check.sh) and every test: the pure-Rust core with cargo test, then pytest over the Python package
# and the compiled extension. The tests start their own throw-away PostgreSQL (ftvm.localcluster, as `ftvm cluster
# up` does) and drive the live view in a headless chromium, all from Debian's packages, installed here when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || missing+=(postgresql)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
  as_root=""
  [ "$(id -u)" -eq 0 ] || as_root="sudo"
  $as_root apt-get update -q
  $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi
. scripts/venv.sh
python -m pip install --disable-pip-version-check -q -e ".[test,bench,bench-peers]"
bash scripts/check.sh
cargo test --workspace --quiet
python -m pytest -q "$@"
