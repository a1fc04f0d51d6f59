"""Paired tests between two models scored on the same samples.

Two runs of a task on the same evaluation data share sample ids; comparing them sample by sample
removes the variance of "which samples were drawn", so real differences show up with far fewer samples
than two independent intervals would need. Every test here works on whole samples (all rows that share
a sample id travel together) and recomputes the task's own ``aggregate``, so ratio metrics such as
perplexity = exp(Σ nll / Σ tokens) are compared as the ratio they are, not as a mean of per-sample
ratios.

* ``paired_bootstrap``: resample sample ids once, take those samples from both runs, recompute both
  aggregates; the percentile interval of the difference is its CI.
* ``permutation_test``: under "no difference" the two runs' rows of a sample are exchangeable, so swap
  them on a random half of the samples and see how often the difference is as large as observed.
* ``mcnemar``: for 0/1 per-sample scores (accuracies), the exact binomial test on discordant pairs.

Both resampling tests have two implementations that draw the same random numbers: the pandas one
(``paired_bootstrap``, ``permutation_test``: the task's ``aggregate`` on every resampled table, the
definition) and the array one (``paired_bootstrap_arrays``, ``permutation_test_arrays``): a task's
``tasks.fast_aggregates`` kernel turns each sample into a row of feature sums, one matrix of draws
(bootstrap counts, or permutation swaps) shared by the pair weights both sides at once, and the
kernel maps the weighted sums to metric values. ``compare_samples`` uses the arrays when the task has
a kernel that reproduces the pandas aggregate on the tables at hand, pandas otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from harness.statistics import Aggregate, GroupIndex, percentile_interval, used_columns

if TYPE_CHECKING:
    from tasks.fast_aggregates import Factory, Kernel

#: cells of one block of resample weights (draws × samples): bounds the memory of the array tests
BLOCK_CELLS = 1 << 22


@dataclass(frozen=True)
class Paired:
    """Two per-sample tables restricted to the samples they share, indexed by a common group code."""

    a: pd.DataFrame
    b: pd.DataFrame
    index_a: GroupIndex
    index_b: GroupIndex
    units: np.ndarray  # the shared sample ids, in code order

    @property
    def n(self) -> int:
        return len(self.units)


def pair(
    a: pd.DataFrame, b: pd.DataFrame, unit: str = "sample_id", columns: list[str] | None = None
) -> Paired:
    """Align two per-sample tables on ``unit``; samples only one side has are left out of the test.

    ``columns`` narrows the tables to what the aggregate reads (see ``stats.used_columns``): every
    resample copies them, and the unit itself is often a string column no aggregate needs.
    """
    for name, frame in (("first", a), ("second", b)):
        if unit not in frame.columns:
            raise ValueError(
                f"the {name} sample table has no {unit!r} column (columns: {list(frame.columns)})"
            )
    common = pd.Index(pd.unique(a[unit])).intersection(pd.Index(pd.unique(b[unit])))
    if common.empty:
        raise ValueError(f"the two sample tables share no {unit!r}: they were not scored on the same samples")
    a = a[a[unit].isin(common)].reset_index(drop=True)
    b = b[b[unit].isin(common)].reset_index(drop=True)
    n = len(common)
    index_a, index_b = GroupIndex(common.get_indexer(a[unit]), n), GroupIndex(common.get_indexer(b[unit]), n)
    if columns is not None:
        a, b = a[[c for c in columns if c in a.columns]], b[[c for c in columns if c in b.columns]]
    return Paired(
        a=a,
        b=b,
        index_a=index_a,
        index_b=index_b,
        units=np.asarray(common),
    )


def _difference(aggregate: Aggregate, a: pd.DataFrame, b: pd.DataFrame) -> dict[str, float]:
    va, vb = aggregate(a), aggregate(b)
    return {k: float(va[k]) - float(vb[k]) for k in va if k in vb}


@dataclass(frozen=True)
class Difference:
    """One metric's paired comparison: first minus second, with its CI and p-value."""

    metric: str
    a: float
    b: float
    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    test: str
    n: int


def paired_bootstrap(
    paired: Paired, aggregate: Aggregate, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0
) -> dict[str, tuple[float, float]]:
    """Percentile CI of aggregate(a) - aggregate(b) under joint resampling of the shared samples."""
    if n_boot < 1 or not 0 < alpha < 1:
        raise ValueError(f"need n_boot >= 1 and 0 < alpha < 1, got n_boot={n_boot}, alpha={alpha}")
    rng = np.random.default_rng(seed)
    values: dict[str, np.ndarray] = {}
    for b, chosen in enumerate(rng.integers(0, paired.n, size=(n_boot, paired.n))):
        diffs = _difference(
            aggregate, paired.a.take(paired.index_a.rows(chosen)), paired.b.take(paired.index_b.rows(chosen))
        )
        for name, d in diffs.items():
            values.setdefault(name, np.full(n_boot, np.nan))[b] = d
    return {name: percentile_interval(vals, alpha) for name, vals in values.items()}


def permutation_test(
    paired: Paired, aggregate: Aggregate, n_perm: int = 1000, seed: int = 0
) -> dict[str, float]:
    """Two-sided p-value of each metric's difference by randomly swapping whole samples between runs.

    p = (1 + #{|d*| >= |d|}) / (1 + n_perm), which is never 0 and is exact for the randomisation.
    """
    if n_perm < 1:
        raise ValueError(f"need n_perm >= 1, got {n_perm}")
    observed = _difference(aggregate, paired.a, paired.b)
    stacked = pd.concat([paired.a, paired.b], ignore_index=True)
    codes = np.concatenate([_codes(paired.index_a, len(paired.a)), _codes(paired.index_b, len(paired.b))])
    side_b = np.arange(len(stacked)) >= len(paired.a)
    rng = np.random.default_rng(seed)
    extreme = dict.fromkeys(observed, 0)
    valid = dict.fromkeys(observed, 0)
    for flips in rng.integers(0, 2, size=(n_perm, paired.n)).astype(bool):
        to_b = side_b ^ flips[codes]
        diffs = _difference(aggregate, stacked[~to_b], stacked[to_b])
        for name, d in diffs.items():
            if name in observed and not math.isnan(d):
                valid[name] += 1
                # a relative tolerance so that ties (e.g. the identity permutation) count as extreme
                extreme[name] += abs(d) >= abs(observed[name]) * (1 - 1e-12)
    return {
        name: (1 + extreme[name]) / (1 + valid[name]) if not math.isnan(observed[name]) else math.nan
        for name in observed
    }


def _codes(index: GroupIndex, n_rows: int) -> np.ndarray:
    """The group code of every row (inverse of the index's sort)."""
    codes = np.empty(n_rows, dtype=np.int64)
    codes[index.order] = np.repeat(np.arange(index.n_groups), index.sizes)
    return codes


# -- the array path -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sums:
    """Each shared sample's feature sums on both sides (samples × features), for one kernel."""

    kernel: Kernel
    a: np.ndarray
    b: np.ndarray


def group_sums(paired: Paired, kernel: Kernel) -> Sums:
    """Sum the kernel's per-row features within each shared sample, on both sides."""
    out = []
    for side, (frame, index) in enumerate(((paired.a, paired.index_a), (paired.b, paired.index_b))):
        sums = np.zeros((paired.n, kernel.width))
        np.add.at(sums, _codes(index, len(frame)), kernel.features(frame, side))
        out.append(sums)
    return Sums(kernel, out[0], out[1])


def _blocks(n_draws: int, n: int) -> list[slice]:
    step = max(1, BLOCK_CELLS // max(n, 1))
    return [slice(i, min(i + step, n_draws)) for i in range(0, n_draws, step)]


def _counts(chosen: np.ndarray, n: int) -> np.ndarray:
    """Each draw's multiplicity of every sample (draws × n) from drawn sample numbers (draws × n)."""
    flat = (np.arange(len(chosen))[:, None] * n + chosen).ravel()
    return np.bincount(flat, minlength=len(chosen) * n).reshape(len(chosen), n).astype(float)


def _metric_values(sums: Sums, weights_a: np.ndarray, weights_b: np.ndarray) -> dict[str, np.ndarray]:
    """The kernel's metrics of the table that takes sample g ``weights_a[:, g]`` times from side a and
    ``weights_b[:, g]`` times from side b, one row of weights per resample."""
    return sums.kernel.finalize(weights_a @ sums.a + weights_b @ sums.b)


def paired_bootstrap_arrays(
    sums: Sums, names: list[str], n_boot: int = 1000, alpha: float = 0.05, seed: int = 0
) -> dict[str, tuple[float, float]]:
    """``paired_bootstrap`` with the same draws, each side's resample a count vector over the samples."""
    if n_boot < 1 or not 0 < alpha < 1:
        raise ValueError(f"need n_boot >= 1 and 0 < alpha < 1, got n_boot={n_boot}, alpha={alpha}")
    n = len(sums.a)
    chosen = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    values = {name: np.full(n_boot, np.nan) for name in names}
    zero = np.zeros((1, n))
    for block in _blocks(n_boot, n):
        counts = _counts(chosen[block], n)
        va = _metric_values(sums, counts, zero)
        vb = _metric_values(sums, zero, counts)
        for name in names:
            values[name][block] = va[name] - vb[name]
    return {name: percentile_interval(vals, alpha) for name, vals in values.items()}


def permutation_test_arrays(
    sums: Sums, observed: dict[str, float], n_perm: int = 1000, seed: int = 0
) -> dict[str, float]:
    """``permutation_test`` with the same swaps: a swapped sample weighs the other side's sums."""
    if n_perm < 1:
        raise ValueError(f"need n_perm >= 1, got {n_perm}")
    n = len(sums.a)
    flips = np.random.default_rng(seed).integers(0, 2, size=(n_perm, n)).astype(bool)
    extreme = dict.fromkeys(observed, 0)
    valid = dict.fromkeys(observed, 0)
    for block in _blocks(n_perm, n):
        swapped = flips[block].astype(float)
        kept = 1.0 - swapped
        va = _metric_values(sums, kept, swapped)
        vb = _metric_values(sums, swapped, kept)
        for name, obs in observed.items():
            d = va[name] - vb[name]
            ok = ~np.isnan(d)
            valid[name] += int(ok.sum())
            extreme[name] += int((np.abs(d[ok]) >= abs(obs) * (1 - 1e-12)).sum())
    return {
        name: (1 + extreme[name]) / (1 + valid[name]) if not math.isnan(observed[name]) else math.nan
        for name in observed
    }


def same_values(mine: dict[str, float], theirs: dict[str, float], names: Iterable[str]) -> bool:
    """A kernel's value equals the reference value (1e-9 relative) for every metric, NaN equal to NaN;
    a metric the kernel lacks is a mismatch, one the reference leaves out counts as NaN."""
    for name in names:
        if name not in mine:
            return False
        a, b = float(mine[name]), float(theirs.get(name, math.nan))
        if math.isnan(a) or math.isnan(b):
            if math.isnan(a) != math.isnan(b):
                return False
        elif not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12):
            return False
    return True


def _agrees(kernel_values: dict[str, np.ndarray], pandas_values: dict[str, float], names: list[str]) -> bool:
    """The kernel gives the pandas aggregate's value for every metric (row 0 of its values)."""
    return same_values({k: v[0] for k, v in kernel_values.items()}, pandas_values, names)


def verified_sums(
    paired: Paired,
    aggregate: Aggregate,
    factory: Factory,
    unit: str,
    names: list[str],
    observed: tuple[dict[str, float], dict[str, float]],
    seed: int = 0,
) -> Sums | None:
    """The kernel's per-sample sums when it reproduces the pandas ``aggregate`` here — on both full
    tables and on one paired resample — else None (the caller then runs the pandas tests)."""
    try:
        kernel = factory([paired.a, paired.b], unit)
        if kernel is None:
            return None
        sums = group_sums(paired, kernel)
        ones, zero = np.ones((1, paired.n)), np.zeros((1, paired.n))
        if not (
            _agrees(_metric_values(sums, ones, zero), observed[0], names)
            and _agrees(_metric_values(sums, zero, ones), observed[1], names)
        ):
            return None
        chosen = np.random.default_rng(seed).integers(0, paired.n, size=(1, paired.n))
        counts = _counts(chosen, paired.n)
        sides = ((paired.a, paired.index_a, counts, zero), (paired.b, paired.index_b, zero, counts))
        for frame, index, wa, wb in sides:
            if not _agrees(_metric_values(sums, wa, wb), aggregate(frame.take(index.rows(chosen[0]))), names):
                return None
    except (KeyError, ValueError, TypeError, IndexError):
        return None
    return sums


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray) -> tuple[int, int, float]:
    """(a right & b wrong, a wrong & b right, exact two-sided p) for paired 0/1 outcomes.

    The exact binomial form is valid at any count (the chi-square form needs ~25 discordant pairs).
    """
    a = np.asarray(correct_a).astype(bool)
    b = np.asarray(correct_b).astype(bool)
    if a.shape != b.shape:
        raise ValueError(f"McNemar needs paired outcomes of equal length, got {a.shape} and {b.shape}")
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    if only_a + only_b == 0:
        return only_a, only_b, 1.0
    return only_a, only_b, float(binomtest(only_a, only_a + only_b, 0.5).pvalue)


def per_sample(paired: Paired, column: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Both sides' values of ``column`` in shared-sample order, when each sample is exactly one row."""
    sides = ((paired.a, paired.index_a), (paired.b, paired.index_b))
    if any(column not in frame.columns or (index.sizes != 1).any() for frame, index in sides):
        return None
    a, b = (frame[column].to_numpy()[index.order] for frame, index in sides)
    return a, b


def binary_outcomes(
    paired: Paired, metric: str, value_a: float, value_b: float
) -> tuple[np.ndarray, ...] | None:
    """The 0/1 per-sample outcomes whose means are ``metric`` on both sides (then McNemar is the right
    test), or None when the metric is not such an accuracy."""
    values = per_sample(paired, metric)
    if values is None:
        return None
    for col, value in zip(values, (value_a, value_b), strict=True):
        numeric = pd.to_numeric(pd.Series(col), errors="coerce")
        if numeric.isna().any() or not numeric.isin([0, 1]).all():
            return None
        if not math.isclose(float(numeric.mean()), value, abs_tol=1e-9):
            return None
    return values


def compare_samples(
    a: pd.DataFrame,
    b: pd.DataFrame,
    aggregate: Aggregate,
    unit: str = "sample_id",
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    metrics: Callable[[str], bool] | None = None,
    ci: bool = True,
    kernel: Factory | None = None,
) -> list[Difference]:
    """Every metric of ``aggregate`` compared between two sample tables: difference, CI and p-value.

    The p-value comes from McNemar for accuracies (0/1 per sample) and from the permutation test for
    everything else; the CI from the paired bootstrap (skipped, NaN, with ``ci=False``: significance
    marks need only the p-value, and the bootstrap costs as much again). With ``kernel`` (the task's
    ``fast_aggregates`` kernel) the resampling runs on arrays when the kernel reproduces ``aggregate``
    on these tables; the results equal the pandas path's to rounding (same draws).
    """
    if kernel is not None:
        paired = pair(a, b, unit)
    else:
        columns = list(dict.fromkeys([*used_columns(a, aggregate), *used_columns(b, aggregate)]))
        paired = pair(a, b, unit, columns=columns)
    keep = metrics or (lambda _: True)
    va, vb = aggregate(paired.a), aggregate(paired.b)
    names = [k for k in va if k in vb and keep(k)]
    if not names:
        return []
    sums = None
    if kernel is not None:
        sums = verified_sums(paired, aggregate, kernel, unit, names, (va, vb), seed)
        if sums is None:  # the pandas path: copy only the columns the aggregate reads
            columns = list(dict.fromkeys([*used_columns(a, aggregate), *used_columns(b, aggregate)]))
            paired = pair(a, b, unit, columns=columns)

    if sums is not None:
        binary = {
            k: v for k in names if (v := binary_outcomes(paired, k, float(va[k]), float(vb[k]))) is not None
        }
        return compare_sums(sums, va, vb, names, binary, n_boot, alpha, seed, ci)

    def agg(df: pd.DataFrame) -> dict[str, float]:
        out = aggregate(df)
        return {k: out[k] for k in names}

    cis = paired_bootstrap(paired, agg, n_boot=n_boot, alpha=alpha, seed=seed) if ci else {}
    binary = {
        k: v for k in names if (v := binary_outcomes(paired, k, float(va[k]), float(vb[k]))) is not None
    }
    continuous = [k for k in names if k not in binary]
    p_perm: dict[str, float] = {}
    if continuous:

        def agg_continuous(df: pd.DataFrame) -> dict[str, float]:
            out = aggregate(df)
            return {k: out[k] for k in continuous}

        p_perm = permutation_test(paired, agg_continuous, n_perm=n_boot, seed=seed + 1)
    return _differences(names, va, vb, binary, p_perm, cis, paired.n)


def compare_sums(
    sums: Sums,
    va: dict[str, float],
    vb: dict[str, float],
    names: list[str],
    binary: dict[str, tuple[np.ndarray, ...]],
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    ci: bool = True,
) -> list[Difference]:
    """``compare_samples`` on per-sample feature sums: the same draws (bootstrap ``seed``, permutation
    ``seed + 1``), so the same CIs and p-values; ``binary`` holds the McNemar metrics' outcomes."""
    cis = paired_bootstrap_arrays(sums, names, n_boot=n_boot, alpha=alpha, seed=seed) if ci else {}
    continuous = [k for k in names if k not in binary]
    p_perm: dict[str, float] = {}
    if continuous:
        observed = {k: float(va[k]) - float(vb[k]) for k in continuous}
        p_perm = permutation_test_arrays(sums, observed, n_perm=n_boot, seed=seed + 1)
    return _differences(names, va, vb, binary, p_perm, cis, len(sums.a))


def _differences(
    names: list[str],
    va: dict[str, float],
    vb: dict[str, float],
    binary: dict[str, tuple[np.ndarray, ...]],
    p_perm: dict[str, float],
    cis: dict[str, tuple[float, float]],
    n: int,
) -> list[Difference]:
    out = []
    for k in names:
        if k in binary:
            p, test = mcnemar(*binary[k])[2], "mcnemar"
        else:
            p, test = p_perm[k], "permutation"
        lo, hi = cis.get(k, (math.nan, math.nan))
        out.append(Difference(k, float(va[k]), float(vb[k]), float(va[k]) - float(vb[k]), lo, hi, p, test, n))
    return out
