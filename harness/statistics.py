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
from pandas.api.types import is_bool_dtype, is_numeric_dtype

Aggregate = Callable[[pd.DataFrame], dict[str, float]]


class GroupIndex:
    """Rows of a table grouped by a key, so that a draw of group numbers becomes row positions fast.

    Resampling whole groups (all rows of one prompt, or of one sample id) is what keeps correlated rows
    from narrowing an interval; the same draw applied to two tables' indices is what pairs a test.
    """

    def __init__(self, codes: np.ndarray, n_groups: int):
        codes = np.asarray(codes, dtype=np.int64)
        self.order = np.argsort(codes, kind="stable")  # rows sorted by group: each group is contiguous
        self.sizes = np.bincount(codes, minlength=n_groups)
        self.starts = np.concatenate(([0], np.cumsum(self.sizes)[:-1]))
        self.n_groups = n_groups

    @classmethod
    def of(cls, keys: pd.Series | np.ndarray) -> GroupIndex:
        """Groups by value (NaN is a group of its own); row order within a group is kept."""
        codes, uniques = pd.factorize(keys, use_na_sentinel=False)
        return cls(codes, len(uniques))

    def rows(self, chosen: np.ndarray) -> np.ndarray:
        """Row positions of the chosen groups (with repeats), group after group."""
        lengths = self.sizes[chosen]
        ends = np.cumsum(lengths)
        if ends.size == 0 or ends[-1] == 0:
            return np.zeros(0, dtype=np.int64)
        # position k inside the output belongs to chosen group j: row = starts[j] + (k - out_start[j])
        offsets = np.repeat(self.starts[chosen] - (ends - lengths), lengths)
        return self.order[offsets + np.arange(ends[-1])]


def _resample_rows(samples: pd.DataFrame, n_boot: int, rng: np.random.Generator, groups: str | None):
    """Yield row-index arrays, one per resample, drawn all at once so the loop only aggregates."""
    n = len(samples)
    if groups is None:
        yield from rng.integers(0, n, size=(n_boot, n))
        return
    index = GroupIndex.of(samples[groups])
    for chosen in rng.integers(0, index.n_groups, size=(n_boot, index.n_groups)):
        yield index.rows(chosen)


def percentile_interval(values: np.ndarray, alpha: float) -> tuple[float, float]:
    """The (alpha/2, 1-alpha/2) quantiles of the finite values; (nan, nan) when there are none."""
    finite = values[~np.isnan(values)]
    if finite.size == 0:
        return math.nan, math.nan
    lo, hi = np.quantile(finite, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def _same(x: dict[str, float], y: dict[str, float]) -> bool:
    return x.keys() == y.keys() and all(
        (isinstance(x[k], float) and isinstance(y[k], float) and math.isnan(x[k]) and math.isnan(y[k]))
        or x[k] == y[k]
        for k in x
    )


def _cheap(dtype: object) -> bool:
    """Numbers, booleans and categoricals copy as flat arrays; strings and objects do not."""
    return isinstance(dtype, pd.CategoricalDtype) or is_bool_dtype(dtype) or is_numeric_dtype(dtype)


def used_columns(frame: pd.DataFrame, aggregate: Aggregate, keep: Iterable[str] = ()) -> list[str]:
    """The columns worth copying on every resample: numeric ones, and the text/object columns whose
    removal changes what ``aggregate`` returns on the full table (or makes it fail).

    Per-sample tables often carry text (generated and reference continuations, string ids) that no
    aggregate reads and that costs most of each copy. Probing once per such column is cheap next to a
    thousand copies; numeric columns are cheap to copy and are never probed.
    """
    keep = set(keep)
    full = aggregate(frame)
    needed = []
    for col in frame.columns:
        if col in keep or _cheap(frame[col].dtype):
            needed.append(col)
            continue
        try:
            unchanged = _same(aggregate(frame.drop(columns=[col])), full)
        except Exception:
            unchanged = False
        if not unchanged:
            needed.append(col)
    return needed


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
    frame = frame[used_columns(frame, aggregate, keep=[groups] if groups else [])]
    values: dict[str, np.ndarray] = {}
    for b, rows in enumerate(_resample_rows(frame, n_boot, rng, groups)):
        for name, v in aggregate(frame.take(rows)).items():
            if name not in values:
                values[name] = np.full(n_boot, np.nan)
            values[name][b] = v
    return {name: percentile_interval(vals, alpha) for name, vals in values.items()}


def seed_summary(values: Iterable[float]) -> tuple[float, float, int]:
    """(mean, sample std, n) over seeds; std is NaN with a single seed (it is unknown).

    A NaN seed value makes the mean NaN (an infinite one makes it infinite): skipping it would report
    the other seeds' mean as if every seed had finished; a NaN cell is never ranked or bolded."""
    arr = np.asarray([float(v) for v in values], dtype=float)
    if arr.size == 0:
        raise ValueError("seed_summary needs at least one value")
    if np.isnan(arr).any():
        return math.nan, math.nan, int(arr.size)
    if not np.isfinite(arr).all():  # ±inf stays visible as such (never a best value)
        return float(arr.mean()), math.nan, int(arr.size)
    std = float(arr.std(ddof=1)) if arr.size > 1 else math.nan
    return float(arr.mean()), std, int(arr.size)


def seed_interval(mean: float, std: float, n: int, alpha: float = 0.05) -> tuple[float | None, float | None]:
    """Student-t (1-alpha) interval of a mean over ``n`` seeds; undefined (None) for a single seed."""
    if n < 2 or not math.isfinite(std):
        return None, None
    from scipy.stats import t as student_t

    half = float(student_t.ppf(1 - alpha / 2, n - 1)) * std / math.sqrt(n)
    return mean - half, mean + half
