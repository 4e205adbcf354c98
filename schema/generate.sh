#!/usr/bin/env bash
# Regenerate the Python code for schema/hamster/v1/records.proto.
#
# Usage: schema/generate.sh [OUT_DIR]   (default: hamster/storage/pb)
#
# Writes OUT_DIR/records_pb2.py and OUT_DIR/records_pb2.pyi (mypy-protobuf).
# The generated module imports no other generated module, so it works from
# any package path; the descriptor keeps its canonical name
# "hamster/v1/records.proto". tests/storage/test_codegen.py runs this script
# into a temp dir and fails if the committed files are stale.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
OUT="${1:-$ROOT/hamster/storage/pb}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
PATH="$(dirname "$PYTHON"):$PATH" "$PYTHON" -m grpc_tools.protoc -I"$ROOT/schema" \
    --python_out="$WORK" \
    --mypy_out="$WORK" \
    "$ROOT/schema/hamster/v1/records.proto"
mkdir -p "$OUT"
cp "$WORK/hamster/v1/records_pb2.py" "$WORK/hamster/v1/records_pb2.pyi" "$OUT/"
