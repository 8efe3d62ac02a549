#!/usr/bin/env bash
# Sets up the package (building the Rust extension) with its benchmark peers (Nova, HiGHS) and runs the placement
# benchmark on 1k and 10k hosts.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --disable-pip-version-check -q -e ".[bench-peers]"
exec ftvm bench placement --hosts 1000,10000 "$@"
