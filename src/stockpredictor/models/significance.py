"""One-sided significance tests for the retraining trigger (pure: numbers in, numbers out).

- `diebold_mariano`: is the model's loss larger than a baseline's over a window of sessions? The
  loss differential's long-run variance is a Newey–West (Bartlett) HAC estimate, and the statistic
  gets the Harvey–Leybourne–Newbold (1997) small-sample correction and a Student t reference.
- `direction_test`: is the model's share of correct directions below a baseline's hit rate? An exact
  binomial lower tail.

scipy is not a dependency of the project: the t distribution comes from the regularized incomplete
beta function (continued fraction) and the binomial tail is summed exactly in log space.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_BETA_EPS = 1e-15
_BETA_MAX_ITERATIONS = 500


@dataclass(frozen=True)
class TestResult:
    """A one-sided test: its statistic, p-value and sample size."""

    __test__ = False  # not a pytest class

    statistic: float
    p_value: float
    n: int

    def significant(self, alpha: float) -> bool:
        """True when the p-value is below `alpha`."""
        return self.p_value < alpha


def newey_west_lag(n: int) -> int:
    """Bartlett-kernel truncation lag floor(4 (n/100)^(2/9)) (Newey and West 1994), at most n - 1."""
    return max(0, min(n - 1, math.floor(4 * (n / 100) ** (2 / 9))))


def long_run_variance(series: np.ndarray, max_lag: int) -> float:
    """Newey–West HAC estimate: gamma_0 + 2 sum_{k=1..L} (1 - k/(L+1)) gamma_k, autocovariances over n."""
    x = np.asarray(series, dtype=np.float64)
    centred = x - x.mean()
    n = len(x)
    variance = float(centred @ centred) / n
    for k in range(1, max_lag + 1):
        weight = 1 - k / (max_lag + 1)
        variance += 2 * weight * float(centred[k:] @ centred[:-k]) / n
    return variance


def diebold_mariano(
    model_loss: np.ndarray, baseline_loss: np.ndarray, horizon: int = 1, max_lag: int | None = None
) -> TestResult:
    """One-sided DM test of H1 "the model's expected loss exceeds the baseline's" (small p: model worse).

    `model_loss[t]` and `baseline_loss[t]` are the losses of session t (e.g. mean absolute errors over
    the tickers). d = model - baseline; DM = mean(d) / sqrt(LRV(d) / n) with the Newey–West long-run
    variance (lag `max_lag`, default `newey_west_lag(n)`); the HLN correction multiplies it by
    sqrt((n + 1 - 2h + h(h - 1)/n) / n) and the p-value is P(T > DM*) for T ~ Student t with n - 1
    degrees of freedom. A differential with no variance gives +-inf and p 0 (model worse) or 1.
    """
    differential = np.asarray(model_loss, dtype=np.float64) - np.asarray(baseline_loss, dtype=np.float64)
    n = len(differential)
    if differential.ndim != 1 or n < 2:
        raise ValueError(f"need two 1-d loss series of one length >= 2, got {differential.shape}")
    if not np.isfinite(differential).all():
        raise ValueError("losses contain NaN or infinite values")
    mean = float(differential.mean())
    variance = long_run_variance(differential, newey_west_lag(n) if max_lag is None else max_lag)
    if variance <= 0:
        worse = mean > 0
        return TestResult(math.inf if worse else -math.inf, 0.0 if worse else 1.0, n)
    statistic = mean / math.sqrt(variance / n)
    statistic *= math.sqrt((n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n)
    return TestResult(statistic, student_t_sf(statistic, n - 1), n)


def direction_test(hits: int, n: int, baseline_rate: float) -> TestResult:
    """One-sided binomial test of H1 "the model's hit rate is below `baseline_rate`": P(X <= hits).

    The statistic is the model's hit rate minus `baseline_rate`.
    """
    if n < 1 or not 0 <= hits <= n:
        raise ValueError(f"need 0 <= hits <= n and n >= 1, got hits={hits}, n={n}")
    return TestResult(hits / n - baseline_rate, binomial_cdf(hits, n, baseline_rate), n)


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed term by term (log space: no underflow for large n)."""
    if not 0 <= p <= 1:
        raise ValueError(f"p must lie in [0, 1], got {p}")
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    if p == 0:
        return 1.0
    if p == 1:
        return 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    log_n_factorial = math.lgamma(n + 1)
    total = math.fsum(
        math.exp(log_n_factorial - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q)
        for i in range(k + 1)
    )
    return min(1.0, total)


def student_t_sf(x: float, df: float) -> float:
    """P(T > x) for T ~ Student t with `df` degrees of freedom."""
    if df <= 0:
        raise ValueError(f"degrees of freedom must be > 0, got {df}")
    if math.isinf(x):
        return 0.0 if x > 0 else 1.0
    tail = 0.5 * regularized_beta(df / 2, 0.5, df / (df + x * x))  # P(T > |x|)
    return tail if x >= 0 else 1.0 - tail


def regularized_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), the regularized incomplete beta function (Lentz's continued fraction)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, 1 - x) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, _BETA_MAX_ITERATIONS + 1):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1.0) < _BETA_EPS:
            return result
    raise ArithmeticError(f"incomplete beta did not converge for a={a}, b={b}, x={x}")
