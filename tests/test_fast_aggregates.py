"""The array kernels of ``tasks.fast_aggregates`` against the tasks' pandas ``aggregate``.

The pandas aggregate is the definition; the kernels are how paired tests afford a thousand resamples.
On tables of every task kind (``_task_tables``) they must give the same metric values on explicit
resamples and permutations, and ``compare_samples`` / ``compare_variants`` must give the same CIs and
p-values either way (same draws), to 1e-12.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from _leaderboard_data import Fixture
from _task_tables import KINDS, perplexity, plan_match, skipped

from leaderboard import compare as compare_mod
from leaderboard.compare import compare_variants
from leaderboard.paired import (
    Paired,
    compare_samples,
    group_sums,
    pair,
    verified_sums,
)
from leaderboard.store import Store
from tasks import fast_aggregates
from tasks.base import TASKS
from tasks.fast_aggregates import KERNELS, lookup, mauve_arrays
from tasks.mauve import mauve_from_labels

TOL = 1e-12
N = {"perplexity": 60, "probes": 40}  # table sizes (samples); 30 otherwise


def close(x: float, y: float) -> bool:
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    return math.isclose(x, y, rel_tol=TOL, abs_tol=TOL)


def setup(kind: str, seeds: tuple[int, int] = (1, 2)):
    task, params, make = KINDS[kind]
    cls = TASKS.get(task)
    impl, validated = cls(), cls.Params.model_validate(params)
    n = N.get(kind.split("-")[0], 30)
    a, b = make(n, 0.6, seeds[0]), make(n, 0.3, seeds[1])
    return (lambda df: impl.aggregate(df, validated)), lookup(task, validated), a, b


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_kernel_equals_aggregate_on_resamples_and_swaps(kind: str) -> None:
    aggregate, factory, a, b = setup(kind)
    assert factory is not None, f"{kind}: no kernel for the task's current version"
    paired = pair(a, b)
    sums = group_sums(paired, factory([paired.a, paired.b], "sample_id"))
    rng = np.random.default_rng(0)
    checked = 0
    for draw in range(12):
        if draw % 2 == 0:  # a paired bootstrap resample, each side on its own
            chosen = rng.integers(0, paired.n, size=paired.n)
            counts = np.bincount(chosen, minlength=paired.n)[None, :].astype(float)
            zero = np.zeros_like(counts)
            cases = [
                (counts, zero, paired.a.take(paired.index_a.rows(chosen))),
                (zero, counts, paired.b.take(paired.index_b.rows(chosen))),
            ]
        else:  # a permutation: swapped samples take the other side's rows
            flips = rng.integers(0, 2, size=paired.n).astype(bool)
            stacked, codes, side_b = _stacked(paired)
            to_b = side_b ^ flips[codes]
            f = flips[None, :].astype(float)
            cases = [(1 - f, f, stacked[~to_b]), (f, 1 - f, stacked[to_b])]
        for wa, wb, table in cases:
            want = aggregate(table)
            got = sums.kernel.finalize(wa @ sums.a + wb @ sums.b)
            for name, value in want.items():
                assert close(float(got[name][0]), float(value)), (kind, draw, name, got[name][0], value)
                checked += 1
            # a metric the pandas aggregate leaves out of this resample is NaN in the kernel
            assert all(math.isnan(float(got[name][0])) for name in set(got) - set(want)), kind
    assert checked > 0


def _stacked(paired: Paired) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """What ``permutation_test`` swaps: both tables stacked, each row's sample code and side."""
    from leaderboard.paired import _codes

    stacked = pd.concat([paired.a, paired.b], ignore_index=True)
    codes = np.concatenate([_codes(paired.index_a, len(paired.a)), _codes(paired.index_b, len(paired.b))])
    return stacked, codes, np.arange(len(stacked)) >= len(paired.a)


def assert_same_differences(fast: list, slow: list) -> None:
    assert [d.metric for d in fast] == [d.metric for d in slow]
    for f, s in zip(fast, slow, strict=True):
        assert f.test == s.test and f.n == s.n, f.metric
        for field in ("a", "b", "diff", "ci_low", "ci_high", "p_value"):
            assert close(getattr(f, field), getattr(s, field)), (
                f.metric,
                field,
                getattr(f, field),
                getattr(s, field),
            )


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_compare_samples_arrays_equal_pandas(kind: str) -> None:
    aggregate, factory, a, b = setup(kind)
    paired = pair(a, b)
    va, vb = aggregate(paired.a), aggregate(paired.b)
    names = [k for k in va if k in vb]
    assert verified_sums(paired, aggregate, factory, "sample_id", names, (va, vb)) is not None, kind
    fast = compare_samples(a, b, aggregate, n_boot=120, kernel=factory)
    slow = compare_samples(a, b, aggregate, n_boot=120)
    assert fast, kind
    assert_same_differences(fast, slow)
    # the tests resampled something: intervals have width, p-values are valid
    assert any(d.ci_low < d.ci_high for d in fast) and all(0 < d.p_value <= 1 for d in fast), kind
    if kind in ("perplexity", "rouge", "probes", "latent_ppl"):  # a planted difference is found
        assert min(d.p_value for d in fast) < 0.05, kind


def test_permutation_p_counts_the_identity_as_extreme() -> None:
    """Both paths count ties with the observed difference (e.g. no swap at all) as extreme: p > 0."""
    aggregate, factory, a, _ = setup("perplexity")
    for kernel in (factory, None):
        (d, *_) = compare_samples(a, a.copy(), aggregate, n_boot=50, kernel=kernel)
        assert d.diff == 0 and d.p_value == 1.0 and d.ci_low == 0 == d.ci_high


@pytest.mark.slow
def test_pooled_seeds_compare_variants_arrays_equal_pandas(tmp_path, monkeypatch) -> None:
    """Through the leaderboard: two seeds pooled as (seed, sample id) units, every task kind."""
    fx = Fixture(Store(tmp_path / "lb.db"), tmp_path / "cache")
    for kind, (task, params, make) in KINDS.items():
        for v, (variant, quality) in enumerate((("x", 0.6), ("y", 0.35))):
            for seed in (0, 1):
                fx.record(variant, "lm", kind, task, params, make(20, quality, 10 * v + seed), seed, n_boot=2)
    results, runs = fx.store.results(), fx.store.runs()
    slow = compare_variants(results, runs, "x", "y", n_boot=100, engine="pandas")

    def no_task_import(*args):
        raise AssertionError("the array path fell back to the pandas aggregate")

    with monkeypatch.context() as m:  # every kind runs on arrays, without importing the task
        m.setattr("leaderboard.compare.task_functions", no_task_import)
        fast = compare_variants(results, runs, "x", "y", n_boot=100)
    assert set(fast["task"]) == set(KINDS) and set(fast["seeds"]) == {"0,1"}
    pd.testing.assert_frame_equal(fast, slow, rtol=TOL, atol=TOL)

    # a stored value the kernel does not reproduce (e.g. recorded by another aggregate): that task
    # takes the pandas path, and the results are still the pandas path's
    edited = results.copy()
    row = edited.index[(edited["task"] == "rouge") & (edited["metric"] == "rouge1")][0]
    edited.loc[row, "value"] += 1e-6
    called = []
    real = compare_mod.task_functions
    monkeypatch.setattr("leaderboard.compare.task_functions", lambda *a: called.append(a[0]) or real(*a))
    again = compare_variants(edited, runs, "x", "y", n_boot=100)
    assert called == ["rouge"]
    pd.testing.assert_frame_equal(again, slow, rtol=TOL, atol=TOL)


def test_tables_a_kernel_cannot_take_run_the_pandas_path() -> None:
    aggregate, factory, a, b = setup("perplexity")
    a.loc[3, "nll"] = math.nan  # pandas sums skip NaN; a kernel would not: it declines
    assert factory([a, b], "sample_id") is None
    assert_same_differences(
        compare_samples(a, b, aggregate, n_boot=50, kernel=factory),
        compare_samples(a, b, aggregate, n_boot=50),
    )
    # skipped plan_match / probes tables have nothing to aggregate: no metrics either way
    task, params, _ = KINDS["plan_match"]
    cls = TASKS.get(task)
    validated = cls.Params.model_validate(params)
    skip = skipped()
    assert lookup(task, validated)([skip, plan_match(10, 0.5, 1)], "sample_id") is None
    assert (
        compare_samples(
            skip, skip.copy(), lambda df: cls().aggregate(df, validated), kernel=lookup(task, validated)
        )
        == []
    )


def test_a_kernel_that_disagrees_with_the_aggregate_is_not_used(monkeypatch) -> None:
    aggregate, factory, a, b = setup("perplexity")

    def wrong(frames, unit):
        k = factory(frames, unit)
        right = k.finalize
        k.finalize = lambda s: {**right(s), "perplexity": right(s)["perplexity"] * (1 + 1e-6)}
        return k

    paired = pair(a, b)
    va, vb = aggregate(paired.a), aggregate(paired.b)
    assert verified_sums(paired, aggregate, wrong, "sample_id", list(va), (va, vb)) is None
    assert_same_differences(
        compare_samples(a, b, aggregate, n_boot=50, kernel=wrong), compare_samples(a, b, aggregate, n_boot=50)
    )


def test_every_kernel_matches_its_task_version() -> None:
    """A task whose version moved on (its aggregate may have changed) must have its kernel reviewed:
    until then ``lookup`` gives None and paired tests fall back to pandas, which this makes visible."""
    for name, entry in KERNELS.items():
        assert name in TASKS, name
        assert TASKS.get(name).version in entry.versions, (name, TASKS.get(name).version, entry.versions)
    validated = TASKS.get("perplexity").Params.model_validate({})
    monkeyed = dict(KERNELS)
    monkeyed["perplexity"] = fast_aggregates.Registered(("0",), KERNELS["perplexity"].build)
    try:
        fast_aggregates.KERNELS = monkeyed
        assert fast_aggregates.lookup("perplexity", validated) is None
    finally:
        fast_aggregates.KERNELS = KERNELS


@pytest.mark.parametrize("case", ["random", "empty bins", "identical", "disjoint"])
def test_mauve_arrays_equal_mauve_text(case: str) -> None:
    rng = np.random.default_rng(3)
    k = 12
    p_labels, q_labels = rng.integers(0, k, size=80), rng.integers(0, k, size=80)
    if case == "empty bins":
        p_labels, q_labels = p_labels % 5, (q_labels % 7) + 3
    elif case == "identical":
        q_labels = p_labels.copy()
    elif case == "disjoint":
        p_labels, q_labels = p_labels % 6, p_labels % 6 + 6
    want = mauve_from_labels(p_labels, q_labels, k, 25, 5.0)
    p, q = np.bincount(p_labels, minlength=k)[None, :], np.bincount(q_labels, minlength=k)[None, :]
    got = mauve_arrays(np.repeat(p, 3, 0).astype(float), np.repeat(q, 3, 0).astype(float), 25, 5.0)
    for name, value in want.items():
        assert np.allclose(got[name], value, rtol=TOL, atol=TOL), (case, name, got[name], value)


def test_large_tables_resample_in_blocks(monkeypatch) -> None:
    """The weight matrices are built a block of draws at a time; the blocks change nothing."""
    aggregate, factory, _, _ = setup("perplexity")
    a, b = perplexity(300, 0.5, 1), perplexity(300, 0.45, 2)
    whole = compare_samples(a, b, aggregate, n_boot=64, kernel=factory)
    monkeypatch.setattr("leaderboard.paired.BLOCK_CELLS", 1000)
    assert_same_differences(compare_samples(a, b, aggregate, n_boot=64, kernel=factory), whole)
