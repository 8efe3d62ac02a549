#!/usr/bin/env bash
# Sets up the package in ./.venv (building the Rust extension) and runs the service on the embedded default: SQLite under
# ./ftvm-data, the demo inventory on first start, gRPC on 127.0.0.1:50051 and REST on 127.0.0.1:8080
# (FTVM_GRPC_PORT / FTVM_HTTP_PORT to change; 0 = any free port). It prints where it listens, the admin password
# (first start only) and a ready-to-paste sample call.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
python -m pip install --disable-pip-version-check -q -e .
exec ftvm serve --data-dir "${FTVM_DATA_DIR:-ftvm-data}" --grpc-port "${FTVM_GRPC_PORT:-50051}" \
  --http-port "${FTVM_HTTP_PORT:-8080}" "$@"
