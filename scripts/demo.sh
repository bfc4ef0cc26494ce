#!/usr/bin/env bash
# `make demo`: a month of the product's daily operations, offline, on the embedded default (bundled
# sample prices, SQLite store, embedded MLflow store under data/). The training pipeline runs as of
# the session before the month, the daily pipeline on its first session (both through kfp.local: one
# line per step, every step's full log a file in its run's logs/ folder), then `stockpredictor
# operate` continues the daily operations over the month's other sessions, with data revealed day
# by day, on the same store: served forecasts, their evaluations, monitor decisions and any
# retraining the monitor asks for. Arguments are global options of every command (`--set k=v`).
# Settings: DEMO_SESSIONS (sessions of the month, ending on DEMO_END), N_TRIALS (the first search).
set -euo pipefail
cd "$(dirname "$0")/.."
sp=(.venv/bin/stockpredictor "$@")
export STOCKPREDICTOR_DATA_DIR="${STOCKPREDICTOR_DATA_DIR:-$PWD/data}"
DEMO_END="${DEMO_END:-2013-03-01}"  # the bundled sample's last session
DEMO_SESSIONS="${DEMO_SESSIONS:-30}"
N_TRIALS="${N_TRIALS:-8}"

for store in stockpredictor.db mlflow.db; do
  if [ -e "$STOCKPREDICTOR_DATA_DIR/$store" ]; then
    echo "error: $STOCKPREDICTOR_DATA_DIR/$store exists (an earlier demo?): the demo starts on an empty store; \`make clean-data\` deletes data/" >&2
    exit 2
  fi
done

# The session before the month (training), its first session (daily pipeline), its second (operate).
read -r TRAIN_AS_OF DAILY_AS_OF OPERATE_FROM < <(.venv/bin/python - "$DEMO_SESSIONS" "$DEMO_END" <<'EOF'
import sys
from datetime import date, timedelta

from stockpredictor.calendar import trading_days

sessions, end = int(sys.argv[1]), date.fromisoformat(sys.argv[2])
if sessions < 2:
    sys.exit("error: DEMO_SESSIONS must be at least 2")
days = trading_days(end - timedelta(days=2 * sessions + 10), end)[-sessions - 1 :]
print(days[0], days[1], days[2])
EOF
)

echo "== training pipeline (as of $TRAIN_AS_OF, $N_TRIALS Optuna trials)" >&2
"${sp[@]}" pipeline run training --as-of "$TRAIN_AS_OF" --n-trials "$N_TRIALS" >&2
echo "== daily pipeline (as of $DAILY_AS_OF)" >&2
"${sp[@]}" pipeline run daily --as-of "$DAILY_AS_OF" >&2
echo "== daily operations, $OPERATE_FROM..$DEMO_END (stockpredictor operate: the daily pipeline's stages, one session at a time)" >&2
"${sp[@]}" operate --start "$OPERATE_FROM" --end "$DEMO_END" >/dev/null

# The dashboard and MLflow's UI read the store under STOCKPREDICTOR_DATA_DIR (./data by default).
env=""
[ "$STOCKPREDICTOR_DATA_DIR" -ef "$PWD/data" ] || env="STOCKPREDICTOR_DATA_DIR=$STOCKPREDICTOR_DATA_DIR "
cat <<EOF

Where to look next
  Dashboard:  $env$PWD/.venv/bin/stockpredictor serve
              then open http://127.0.0.1:8000 (forecasts, their intervals and actual closes, rolling performance, monitor decisions)
  MLflow UI:  ${env}make mlflow-ui
              then open http://127.0.0.1:5000 (experiment 'stockpredictor', model StockPricePredictorLSTM)
  KFP runs:   $STOCKPREDICTOR_DATA_DIR/kfp (a folder per local run: logs/<step>.log, and each step's artifacts)
EOF
