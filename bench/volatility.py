"""Issue 24: which next-session volatility forecast, measured on the bundled sample.

For each ticker and period, every estimator of `models.volatility.ESTIMATORS` forecasts the next
close-to-close log return's standard deviation from the OHLC up to each day; printed: QLIKE (lower is
better; robust to the noise of r² as a variance proxy) and the MAE of σ·sqrt(2/π) against |r| (in
basis points). `intervals.volatility` defaults to `range_mix` (see the README for why).

Run: `python -m bench.volatility`.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from bench.common import machine
from stockpredictor.models.volatility import ESTIMATORS, abs_return_mae, log_returns, qlike
from stockpredictor.sources.sample import SAMPLE_TICKERS, SampleSource

PERIODS = (
    (date(2005, 3, 1), date(2006, 3, 1)),
    (date(2008, 6, 2), date(2009, 6, 1)),
    (date(2012, 3, 1), date(2013, 3, 1)),
    (date(2005, 1, 1), date(2013, 3, 1)),
)


def main(argv: list[str] | None = None) -> None:
    """Print QLIKE and MAE of |r| of every estimator, per ticker and period."""
    del argv
    print(f"volatility forecasts on the sample; {machine()}")
    print("| ticker | period | " + " | ".join(f"{name} QLIKE | {name} MAE bp" for name in ESTIMATORS) + " |")
    print("|---|---|" + "---:|" * (2 * len(ESTIMATORS)))
    source = SampleSource()
    for ticker in SAMPLE_TICKERS:
        frame = source.fetch(ticker, None, source.default_as_of())
        days = pd.to_datetime(frame["date"]).dt.date.to_numpy()
        ohlc = [frame[k].to_numpy(dtype=np.float64) for k in ("open", "high", "low", "close")]
        following = np.append(log_returns(ohlc[3])[1:], np.nan)
        forecasts = {name: estimator(*ohlc) for name, estimator in ESTIMATORS.items()}
        for start, end in PERIODS:
            keep = (days >= start) & (days < end)
            nxt = following[keep]
            cells = [
                f"{qlike(f[keep], nxt):.4f} | {1e4 * abs_return_mae(f[keep], nxt):.1f}"
                for f in forecasts.values()
            ]
            print(f"| {ticker} | {start}..{end} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
