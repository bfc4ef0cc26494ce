#!/usr/bin/env bash
# `make demo`: both pipelines end to end through kfp.local, offline, on the embedded default
# (bundled sample prices, SQLite store, embedded MLflow store under data/). Each pipeline prints one
# line per step (name, status, seconds); every step's full log is a file in its run's logs/ folder.
set -euo pipefail
cd "$(dirname "$0")/.."
sp=".venv/bin/stockpredictor"
export STOCKPREDICTOR_DATA_DIR="${STOCKPREDICTOR_DATA_DIR:-$PWD/data}"
TRAIN_AS_OF="${TRAIN_AS_OF:-2013-02-28}"
DAILY_AS_OF="${DAILY_AS_OF:-2013-03-01}"
N_TRIALS="${N_TRIALS:-8}"

echo "== training pipeline (as of $TRAIN_AS_OF, $N_TRIALS Optuna trials)" >&2
$sp pipeline run training --as-of "$TRAIN_AS_OF" --n-trials "$N_TRIALS" >&2
echo "== daily pipeline (as of $DAILY_AS_OF)" >&2
run_dir=$($sp pipeline run daily --as-of "$DAILY_AS_OF" | tail -n 1)

echo
if [ -f "$run_dir/predict/table" ]; then
  cat "$run_dir/predict/table"
else
  echo "No predictions: no model has passed the promotion gate yet (see promote.log in the step logs below)."
fi
echo
echo "Pipeline artifacts: $run_dir"
echo "Step logs:          $(dirname "$run_dir")/logs (one file per step)"
echo "Predictions JSON:   $STOCKPREDICTOR_DATA_DIR/predictions/latest_predictions.json"
echo "MLflow UI:          $PWD/.venv/bin/mlflow ui --backend-store-uri sqlite:///$STOCKPREDICTOR_DATA_DIR/mlflow.db"
echo "                    then open http://127.0.0.1:5000 (experiment 'stockpredictor', model StockPricePredictorLSTM)"
echo "Prediction API:     $PWD/.venv/bin/stockpredictor serve   (dashboard on http://127.0.0.1:8000)"
