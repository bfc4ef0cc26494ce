"""Issue 14 benchmark: the cost of one training epoch per architecture at 100 and 500 tickers.

Synthetic scaled panels (random values, 11 features, sequence length 30, a fifth of the tickers
listed halfway through: absent cells filled and flagged as in training) feed `models.fit` for one
epoch over `--windows` training windows plus a quarter as many validation windows, with the default
hyperparameters of `train` (hidden 64, 2 layers, batch 32). Each case runs in a fresh process, so
its peak RSS is its own. Windows are gathered batch by batch: memory grows with the batch, not with
the number of windows. Cross-stock attention runs the LSTM over every stock's sequence separately
(batch x stocks sequences per step), so its time grows with the number of tickers.

Run: `python -m bench attention` (or `python -m bench.attention --tickers 100 500 --windows 128`).
"""

from __future__ import annotations

import argparse
import multiprocessing
import time

import numpy as np
import torch

from bench.common import machine, peak_rss_mb
from stockpredictor.features.sequences import Windows
from stockpredictor.models import (
    ARCHITECTURES,
    TrainConfig,
    build_model,
    configure_torch_threads,
    fit,
    model_spec,
)
from stockpredictor.stages.train import DEFAULT_HYPERPARAMETERS

SEQUENCE_LENGTH = 30
FEATURES = 11


def _windows(n_tickers: int, n_windows: int, seed: int) -> Windows:
    rng = np.random.default_rng(seed)
    days = n_windows + SEQUENCE_LENGTH
    panel = rng.random((days, n_tickers, FEATURES), dtype=np.float32)
    targets = rng.random((days, n_tickers), dtype=np.float32)
    late = rng.choice(n_tickers, n_tickers // 5, replace=False)
    panel[: days // 2, late] = np.nan
    targets[: days // 2, late] = np.nan
    return Windows(panel, targets, np.arange(SEQUENCE_LENGTH - 1, days - 1), SEQUENCE_LENGTH)


def one_epoch(architecture: str, n_tickers: int, n_windows: int) -> tuple[float, float]:
    """Seconds of one epoch (training and validation) and the process's peak RSS in MB."""
    configure_torch_threads()
    torch.manual_seed(0)
    train, validation = _windows(n_tickers, n_windows, 1), _windows(n_tickers, max(1, n_windows // 4), 2)
    hyperparameters = {**DEFAULT_HYPERPARAMETERS, "architecture": architecture}
    model = build_model(model_spec(hyperparameters, n_tickers, train.n_inputs))
    config = TrainConfig(
        learning_rate=hyperparameters["learning_rate"],
        batch_size=hyperparameters["batch_size"],
        max_epochs=1,
        patience=1,
    )
    started = time.perf_counter()
    fit(model, train, validation, config)
    return time.perf_counter() - started, peak_rss_mb()


def run(tickers: list[int], n_windows: int) -> dict[str, float]:
    """Time one epoch of every architecture at every ticker count, each in its own process."""
    print(
        f"attention: one epoch of {n_windows} training + {max(1, n_windows // 4)} validation windows, "
        f"sequence {SEQUENCE_LENGTH}, {FEATURES} features + presence, {machine()}"
    )
    results: dict[str, float] = {}
    context = multiprocessing.get_context("spawn")
    for n_tickers in tickers:
        for architecture in ARCHITECTURES:
            with context.Pool(1) as pool:
                seconds, rss = pool.apply(one_epoch, (architecture, n_tickers, n_windows))
            results[f"{architecture} {n_tickers} s/epoch"] = seconds
            print(
                f"  {architecture:<22} {n_tickers:>4} tickers {seconds:8.2f} s/epoch "
                f"({1000 * seconds / n_windows:7.1f} s per 1000 windows)  peak RSS {rss:7.0f} MB",
                flush=True,
            )
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickers", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--windows", type=int, default=128, help="training windows in the epoch")
    args = parser.parse_args(argv)
    run(args.tickers, args.windows)


if __name__ == "__main__":
    main()
