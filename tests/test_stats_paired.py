"""Paired tests: a planted difference is found, a null one is not; ratio metrics are re-aggregated;
whole samples travel together; McNemar matches its textbook values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from harness.statistics import GroupIndex
from leaderboard.paired import compare_samples, mcnemar, pair, paired_bootstrap, permutation_test


def mean_of(col: str):
    return lambda df: {"mean": float(df[col].to_numpy().mean())}


def perplexity(df: pd.DataFrame) -> dict[str, float]:
    return {"perplexity": math.exp(df["nll"].to_numpy().sum() / df["n_tokens"].to_numpy().sum())}


def paired_frames(rng: np.random.Generator, n: int, shift: float, noise: float = 0.3):
    """Two models on the same n samples: shared difficulty (large), own noise (small), a planted shift."""
    difficulty = rng.normal(0.0, 2.0, size=n)
    ids = [f"s{i}" for i in range(n)]
    a = pd.DataFrame({"sample_id": ids, "x": difficulty + shift + rng.normal(0, noise, size=n)})
    b = pd.DataFrame({"sample_id": ids, "x": difficulty + rng.normal(0, noise, size=n)})
    return a, b


def test_planted_difference_is_found_and_a_null_one_is_not():
    rng = np.random.default_rng(0)
    reps, n_perm = 40, 100
    found = false_alarms = 0
    for r in range(reps):
        planted, null = paired_frames(rng, 40, shift=0.35), paired_frames(rng, 40, shift=0.0)
        found += (
            permutation_test(pair(*planted, columns=["x"]), mean_of("x"), n_perm=n_perm, seed=r)["mean"]
            < 0.05
        )
        false_alarms += (
            permutation_test(pair(*null, columns=["x"]), mean_of("x"), n_perm=n_perm, seed=r)["mean"] < 0.05
        )
    # the shift is ~5 standard errors of the paired difference: always found; an unpaired comparison
    # (difficulty sd 2.0 on each side) would miss it almost always
    assert found >= reps - 1
    assert false_alarms <= 6  # nominal 5% of 40 = 2; P(>= 7 | Bin(40, .05)) < 0.5%


def test_paired_bootstrap_interval_covers_the_planted_shift():
    rng = np.random.default_rng(1)
    reps, hits = 60, 0
    for r in range(reps):
        a, b = paired_frames(rng, 50, shift=0.25)
        lo, hi = paired_bootstrap(pair(a, b, columns=["x"]), mean_of("x"), n_boot=200, seed=r)["mean"]
        hits += lo <= 0.25 <= hi
    assert hits / reps >= 0.85


def test_ratio_metric_is_re_aggregated_on_joint_resamples():
    """The perplexity difference of each resample is exp(Σnll/Σtok) of the same documents on both sides."""
    rng = np.random.default_rng(2)
    n = 30
    tokens = rng.integers(10, 300, size=n)
    a = pd.DataFrame({"sample_id": np.arange(n), "n_tokens": tokens, "nll": tokens * rng.uniform(2, 3, n)})
    b = a.assign(nll=a["nll"] * 1.05).sample(frac=1.0, random_state=0)  # same docs, another order
    got = paired_bootstrap(pair(a, b), perplexity, n_boot=300, seed=9)["perplexity"]
    draws = np.random.default_rng(9).integers(0, n, size=(300, n))
    b_sorted = b.sort_values("sample_id")
    ppl = lambda df, idx: np.exp(df["nll"].to_numpy()[idx].sum(1) / df["n_tokens"].to_numpy()[idx].sum(1))  # noqa: E731
    diffs = ppl(a, draws) - ppl(b_sorted, draws)
    assert got == pytest.approx(tuple(np.quantile(diffs, [0.025, 0.975])), rel=1e-9)
    assert got[1] < 0  # b is 5% worse on every document


def test_whole_samples_travel_together_and_unshared_samples_are_left_out():
    a = pd.DataFrame({"sample_id": ["p0", "p0", "p1", "p1", "p2"], "x": [1.0, 1.0, 2.0, 2.0, 9.0]})
    b = pd.DataFrame({"sample_id": ["p1", "p0", "p0", "p1", "p3"], "x": [2.0, 1.0, 1.0, 2.0, 0.0]})
    paired = pair(a, b)
    assert paired.n == 2 and set(paired.units) == {"p0", "p1"}
    seen = []

    def check(df: pd.DataFrame) -> dict[str, float]:
        seen.append(df)
        return {"mean": df["x"].mean()}

    out = permutation_test(paired, check, n_perm=50)
    for df in seen:
        assert (df.groupby("sample_id").size() % 2 == 0).all()  # both rows of a prompt, always
    assert out["mean"] == 1.0  # identical on the shared samples: nothing is more extreme than 0
    with pytest.raises(ValueError, match="share no"):
        pair(a.iloc[:2], b.iloc[4:])


def test_mcnemar_exact_values():
    a = np.array([1] * 10 + [0] * 2 + [1] * 30 + [0] * 8)
    b = np.array([0] * 10 + [1] * 2 + [1] * 30 + [0] * 8)
    only_a, only_b, p = mcnemar(a, b)
    assert (only_a, only_b) == (10, 2)
    assert p == pytest.approx(2 * sum(math.comb(12, k) for k in range(3)) / 2**12)  # exact binomial
    assert mcnemar(a, a)[2] == 1.0


def test_compare_samples_uses_mcnemar_for_accuracies_and_finds_planted_gap():
    rng = np.random.default_rng(3)
    n = 300
    ids = np.arange(n)
    hard = rng.uniform(size=n)
    a = pd.DataFrame({"sample_id": ids, "acc": (hard < 0.70).astype(int), "score": hard})
    b = pd.DataFrame({"sample_id": ids, "acc": (hard < 0.55).astype(int), "score": hard})

    def agg(df: pd.DataFrame) -> dict[str, float]:
        return {"acc": float(df["acc"].mean()), "score": float(df["score"].mean())}

    diffs = {d.metric: d for d in compare_samples(a, b, agg, n_boot=200)}
    assert diffs["acc"].test == "mcnemar" and diffs["acc"].p_value < 1e-6
    assert diffs["acc"].diff == pytest.approx(a["acc"].mean() - b["acc"].mean())
    assert diffs["acc"].ci_low > 0
    assert diffs["score"].test == "permutation" and diffs["score"].p_value == 1.0
    null = b.assign(acc=(hard < 0.55).astype(int)[rng.permutation(n)])  # same accuracy, other samples
    diffs = {d.metric: d for d in compare_samples(b, null, agg, n_boot=200)}
    assert diffs["acc"].test == "mcnemar" and diffs["acc"].p_value > 0.5


def test_group_index_rows():
    index = GroupIndex.of(pd.Series(["b", "a", "b", "c", "a"]))
    assert index.n_groups == 3
    assert list(index.rows(np.array([0, 0, 2]))) == [0, 2, 0, 2, 3]  # group "b" twice, then "c"
    assert list(index.rows(np.array([], dtype=int))) == []
