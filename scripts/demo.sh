#!/usr/bin/env bash
# `make demo`: the product end to end, offline, on the embedded default (sample data, SQLite,
# embedded MLflow). Until the pipelines are wired in, it runs the stages one by one.
set -euo pipefail
cd "$(dirname "$0")/.."
sp=".venv/bin/stockpredictor"
echo "== ingest (sample data, as of 2012-12-31)" >&2
$sp ingest --as-of 2012-12-31
echo "== process" >&2
run_id=$($sp process --as-of 2012-12-31 | tail -n 1)
echo "== scale $run_id" >&2
$sp scale --run-id "$run_id"
