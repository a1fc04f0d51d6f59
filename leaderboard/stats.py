"""Uncertainty for leaderboard numbers: bootstrap CIs over samples and spread over seeds.

The bootstrap re-runs the task's own ``aggregate`` on every resample, so ratio metrics such as
perplexity = exp(Σ nll / Σ tokens) get a correct interval without special cases (averaging per-sample
perplexities would not).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

Aggregate = Callable[[pd.DataFrame], dict[str, float]]


def _resample_rows(samples: pd.DataFrame, n_boot: int, rng: np.random.Generator, groups: str | None):
    """Yield row-index arrays, one per resample, drawn all at once so the loop only aggregates."""
    n = len(samples)
    if groups is None:
        draws = rng.integers(0, n, size=(n_boot, n))
        yield from draws
        return
    # whole groups (e.g. all continuations of one prompt) are resampled together, since rows within
    # a group are correlated and row-level resampling would make the interval too narrow
    codes, _ = pd.factorize(samples[groups], use_na_sentinel=False)
    order = np.argsort(codes, kind="stable")  # rows sorted by group: each group is a contiguous run
    sizes = np.bincount(codes)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    draws = rng.integers(0, len(sizes), size=(n_boot, len(sizes)))
    for chosen in draws:
        lengths = sizes[chosen]
        ends = np.cumsum(lengths)
        # position k inside the output belongs to chosen group j: row = starts[j] + (k - out_start[j])
        offsets = np.repeat(starts[chosen] - (ends - lengths), lengths)
        yield order[offsets + np.arange(ends[-1])]


def bootstrap_ci(
    samples: pd.DataFrame,
    aggregate: Aggregate,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    groups: str | None = None,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap (1-alpha) interval of every metric ``aggregate`` returns.

    Rows are resampled with replacement, or whole groups of rows sharing the value of column ``groups``.
    Deterministic in ``seed``. Resamples where a metric is NaN (e.g. an empty denominator) are left out
    of that metric's percentiles; a metric NaN in every resample gets (nan, nan).
    """
    if samples.empty:
        raise ValueError("bootstrap_ci needs at least one sample row")
    if n_boot < 1 or not 0 < alpha < 1:
        raise ValueError(f"need n_boot >= 1 and 0 < alpha < 1, got n_boot={n_boot}, alpha={alpha}")
    if groups is not None and groups not in samples.columns:
        raise ValueError(f"group column {groups!r} not in samples (columns: {list(samples.columns)})")
    rng = np.random.default_rng(seed)
    frame = samples.reset_index(drop=True)  # positional take, whatever index the caller had
    values: dict[str, np.ndarray] = {}
    for b, rows in enumerate(_resample_rows(frame, n_boot, rng, groups)):
        for name, v in aggregate(frame.take(rows)).items():
            if name not in values:
                values[name] = np.full(n_boot, np.nan)
            values[name][b] = v
    out: dict[str, tuple[float, float]] = {}
    for name, vals in values.items():
        finite = vals[~np.isnan(vals)]
        if finite.size == 0:
            out[name] = (math.nan, math.nan)
            continue
        lo, hi = np.quantile(finite, [alpha / 2, 1 - alpha / 2])
        out[name] = (float(lo), float(hi))
    return out


def seed_summary(values: Iterable[float]) -> tuple[float, float, int]:
    """(mean, sample std, n) over seeds, ignoring NaN; std is NaN with a single seed (it is unknown)."""
    arr = np.asarray([float(v) for v in values], dtype=float)
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        raise ValueError("seed_summary needs at least one non-NaN value")
    std = float(arr.std(ddof=1)) if arr.size > 1 else math.nan
    return float(arr.mean()), std, int(arr.size)
