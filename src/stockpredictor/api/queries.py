"""Read-only queries of the store behind the API (SQLAlchemy Core; the same on SQLite and PostgreSQL)."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date, datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection, Integer, Row, Select, and_, case, cast, func, literal, select, union
from sqlalchemy.sql.elements import ColumnElement

from stockpredictor.api.models import (
    LatestPredictions,
    Metrics,
    ModelPerformance,
    MonitorDecision,
    Prediction,
    PredictionInterval,
    PredictionOutcome,
    TickerInfo,
)
from stockpredictor.db.monitor_decisions import decision_log
from stockpredictor.db.schema import (
    latest_predictions,
    model_performance_log,
    model_promotions,
    raw_stock_data,
)
from stockpredictor.models.loss import LossComparison, versus_persistence

DAILY = "daily"
_lp = latest_predictions
_log = model_performance_log


def _newest_per(*partition: ColumnElement[Any]) -> Select[Any]:
    """Daily predictions ranked newest first within `partition` (rank 1 = the one that counts)."""
    rank = func.row_number().over(
        partition_by=partition, order_by=(_lp.c.as_of_date.desc(), _lp.c.created_at.desc(), _lp.c.id.desc())
    )
    return select(_lp, rank.label("rank")).where(_lp.c.kind == DAILY)


NO_CALL_LABEL = "no call"


def _direction(predicted: float, reference: float) -> str:
    return "up" if predicted > reference else "down" if predicted < reference else "flat"


def _call(predicted: float, last_close: float) -> str:
    """A forecast's call: `up`, `down`, or `no call` (the last close itself: persistence calls no move)."""
    return NO_CALL_LABEL if predicted == last_close else _direction(predicted, last_close)


def _prediction_fields(row: Any) -> dict[str, Any]:
    return {
        "ticker": row.ticker,
        "as_of_date": row.as_of_date,
        "target_date": row.target_date,
        "last_close": row.last_close,
        "predicted_close": row.predicted_close,
        "change_pct": 100.0 * (row.predicted_close / row.last_close - 1.0),
        "direction": _call(row.predicted_close, row.last_close),
        "mlflow_run_id": row.model_run_id,
        "model_version": row.model_version,
        "created_at": row.created_at,
        "volatility": row.volatility,
        "intervals": [
            PredictionInterval(level=float(level), lower=bounds[0], upper=bounds[1])
            for level, bounds in sorted((row.intervals or {}).items(), key=lambda item: float(item[0]))
        ],
    }


def list_tickers(conn: Connection) -> list[TickerInfo]:
    """Every ticker with stored prices or daily predictions, alphabetically."""
    prices = (
        select(
            raw_stock_data.c.ticker,
            func.min(raw_stock_data.c.date).label("first"),
            func.max(raw_stock_data.c.date).label("last"),
        )
        .group_by(raw_stock_data.c.ticker)
        .subquery()
    )
    predicted = (
        select(_lp.c.ticker, func.max(_lp.c.as_of_date).label("as_of"))
        .where(_lp.c.kind == DAILY)
        .group_by(_lp.c.ticker)
        .subquery()
    )
    names = union(select(prices.c.ticker), select(predicted.c.ticker)).subquery()
    rows = conn.execute(
        select(names.c.ticker, prices.c.first, prices.c.last, predicted.c.as_of)
        .outerjoin(prices, prices.c.ticker == names.c.ticker)
        .outerjoin(predicted, predicted.c.ticker == names.c.ticker)
        .order_by(names.c.ticker)
    ).all()
    return [
        TickerInfo(
            ticker=r.ticker, first_price_date=r.first, last_price_date=r.last, latest_prediction_as_of=r.as_of
        )
        for r in rows
    ]


def ticker_known(conn: Connection, ticker: str) -> bool:
    """Whether the store holds prices or daily predictions for `ticker`."""
    in_prices = select(literal(1)).where(raw_stock_data.c.ticker == ticker).exists()
    in_predictions = select(literal(1)).where(_lp.c.ticker == ticker, _lp.c.kind == DAILY).exists()
    return bool(conn.execute(select(in_prices | in_predictions)).scalar())


def latest(conn: Connection) -> LatestPredictions:
    """The newest daily prediction of every ticker."""
    ranked = _newest_per(_lp.c.ticker).subquery()
    rows = conn.execute(select(ranked).where(ranked.c.rank == 1).order_by(ranked.c.ticker)).all()
    predictions = [Prediction(**_prediction_fields(r)) for r in rows]
    return LatestPredictions(
        as_of_date=max((p.as_of_date for p in predictions), default=None), predictions=predictions
    )


def history(conn: Connection, ticker: str, start: date | None, end: date | None) -> list[PredictionOutcome]:
    """The newest daily prediction per as-of day of `ticker`, with the actual close where stored."""
    query = _newest_per(_lp.c.as_of_date).where(_lp.c.ticker == ticker)
    if start is not None:
        query = query.where(_lp.c.as_of_date >= start)
    if end is not None:
        query = query.where(_lp.c.as_of_date <= end)
    ranked = query.subquery()
    actual = raw_stock_data.alias("actual")
    rows = conn.execute(
        select(ranked, actual.c.close.label("actual_close"))
        .outerjoin(actual, and_(actual.c.ticker == ranked.c.ticker, actual.c.date == ranked.c.target_date))
        .where(ranked.c.rank == 1)
        .order_by(ranked.c.as_of_date)
    ).all()
    outcomes = []
    for r in rows:
        known = r.actual_close is not None
        outcomes.append(
            PredictionOutcome(
                **_prediction_fields(r),
                actual_close=r.actual_close,
                error=r.predicted_close - r.actual_close if known else None,
                direction_correct=(
                    _direction(r.predicted_close, r.last_close) == _direction(r.actual_close, r.last_close)
                    if known and r.predicted_close != r.last_close
                    else None
                ),
            )
        )
    return outcomes


_SUMS = ("n", "abs_err", "sq_err", "abs_pct", "correct", "calls", "p_abs_err", "p_sq_err", "p_abs_pct")


def performance(conn: Connection, window_days: int) -> list[ModelPerformance]:
    """Metrics per model (overall and per ticker) over its last `window_days` evaluated target days."""
    day_rank = func.dense_rank().over(partition_by=_log.c.model_run_id, order_by=_log.c.target_date.desc())
    window = select(_log, day_rank.label("day_rank")).subquery()
    in_window = select(window).where(window.c.day_rank <= window_days).subquery()
    err = in_window.c.predicted_close - in_window.c.actual_close
    p_err = in_window.c.last_close - in_window.c.actual_close
    sums: tuple[ColumnElement[Any], ...] = (
        func.count(),
        func.sum(func.abs(err)),
        func.sum(err * err),
        func.sum(func.abs(err) / in_window.c.actual_close),
        func.sum(cast(case((in_window.c.direction_correct, 1), else_=0), Integer)),
        func.sum(cast(case((in_window.c.predicted_close != in_window.c.last_close, 1), else_=0), Integer)),
        func.sum(func.abs(p_err)),
        func.sum(p_err * p_err),
        func.sum(func.abs(p_err) / in_window.c.actual_close),
    )
    rows = conn.execute(
        select(
            in_window.c.model_run_id,
            in_window.c.ticker,
            func.min(in_window.c.target_date).label("first"),
            func.max(in_window.c.target_date).label("last"),
            *(s.label(name) for s, name in zip(sums, _SUMS, strict=True)),
        )
        .group_by(in_window.c.model_run_id, in_window.c.ticker)
        .order_by(in_window.c.ticker)
    ).all()
    by_model: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        by_model[row.model_run_id].append(row)
    cells: dict[tuple[str, str], list[Any]] = defaultdict(list)  # (model run, ticker) -> its cells
    for cell in conn.execute(
        select(
            in_window.c.model_run_id,
            in_window.c.ticker,
            in_window.c.target_date,
            in_window.c.predicted_close,
            in_window.c.actual_close,
            in_window.c.last_close,
        )
    ):
        cells[(cell.model_run_id, cell.ticker)].append(cell[2:])
    versions = dict(
        conn.execute(
            select(_lp.c.model_run_id, func.max(_lp.c.model_version))
            .where(_lp.c.model_run_id.in_(list(by_model)))
            .group_by(_lp.c.model_run_id)
        ).all()
    )
    models = [
        ModelPerformance(
            mlflow_run_id=mlflow_run_id,
            model_version=versions.get(mlflow_run_id),
            overall=_metrics(group, _loss([c for row in group for c in cells[(mlflow_run_id, row.ticker)]])),
            tickers={row.ticker: _metrics([row], _loss(cells[(mlflow_run_id, row.ticker)])) for row in group},
        )
        for mlflow_run_id, group in by_model.items()
    ]
    return sorted(models, key=lambda m: (m.overall.last_target_date, m.mlflow_run_id), reverse=True)


def _loss(cells: list[Any]) -> LossComparison:
    """The scale-free loss of (target day, predicted, actual, last close) cells next to persistence's
    (`models.loss`, sessions = target days)."""
    days, predicted, actual, last_close = zip(*cells, strict=True)
    return versus_persistence(
        np.array([d.toordinal() for d in days]), np.array(predicted), np.array(actual), np.array(last_close)
    )


def _metrics(rows: list[Any], loss: LossComparison) -> Metrics:
    """Metrics from per-group sums (summed again across `rows`) and the group's scale-free loss."""
    total = {name: float(sum(getattr(r, name) for r in rows)) for name in _SUMS}
    n = total["n"]
    return Metrics(
        evaluations=int(n),
        first_target_date=min(r.first for r in rows),
        last_target_date=max(r.last for r in rows),
        mae=total["abs_err"] / n,
        rmse=math.sqrt(total["sq_err"] / n),
        mape=100.0 * total["abs_pct"] / n,
        directional_accuracy=total["correct"] / n if total["calls"] else None,
        persistence_mae=total["p_abs_err"] / n,
        persistence_rmse=math.sqrt(total["p_sq_err"] / n),
        persistence_mape=100.0 * total["p_abs_pct"] / n,
        mae_ratio=total["abs_err"] / total["p_abs_err"] if total["p_abs_err"] > 0 else None,
        log_mae=loss.log_mae,
        persistence_log_mae=loss.persistence_log_mae,
        log_mae_ratio=loss.ratio if math.isfinite(loss.ratio) else None,
        loss_p_worse=None if math.isnan(loss.p_worse) else loss.p_worse,
        loss_p_better=None if math.isnan(loss.p_better) else loss.p_better,
    )


def promotion(conn: Connection, model_name: str, version: int) -> Row[datetime, str, str] | None:
    """The newest decision that put `version` of `model_name` in production (promoted, forced, baseline,
    demoted: the baseline took it from a worse trained model)."""
    return conn.execute(
        select(model_promotions.c.created_at, model_promotions.c.decision, model_promotions.c.reason)
        .where(
            model_promotions.c.model_name == model_name,
            model_promotions.c.candidate_version == version,
            model_promotions.c.decision.in_(("promoted", "forced", "baseline", "demoted")),
        )
        .order_by(model_promotions.c.created_at.desc(), model_promotions.c.id.desc())
        .limit(1)
    ).first()


def monitor_decisions(
    conn: Connection, model_name: str, start: date | None, end: date | None, limit: int
) -> list[MonitorDecision]:
    """The monitor's stored decisions about `model_name`, newest as-of day first."""
    return [
        MonitorDecision.model_validate(
            {
                "as_of_date": r.as_of_date,
                "created_at": r.created_at,
                "mlflow_run_id": r.model_run_id,
                "decision": r.decision,
                "reason": r.reason,
                "statistics": r.statistics,
            }
        )
        for r in decision_log(conn, model_name, start, end, limit)
    ]
