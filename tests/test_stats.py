"""Bootstrap CIs and seed summaries: coverage, ratio metrics, determinism, grouping, speed."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest

from harness.statistics import bootstrap_ci, seed_summary


def mean_of(col: str):
    return lambda df: {"mean": float(df[col].to_numpy().mean())}


def perplexity(df: pd.DataFrame) -> dict[str, float]:
    return {"perplexity": math.exp(df["nll"].sum() / df["n_tokens"].sum())}


def test_coverage_is_near_nominal():
    """95% intervals of a normal mean cover the truth about 95% of the time."""
    rng = np.random.default_rng(123)
    reps, hits = 200, 0
    for r in range(reps):
        df = pd.DataFrame({"x": rng.normal(loc=3.0, scale=2.0, size=60)})
        lo, hi = bootstrap_ci(df, mean_of("x"), n_boot=200, seed=r)["mean"]
        hits += lo <= 3.0 <= hi
    assert 0.90 <= hits / reps <= 0.99


def test_perplexity_is_the_ratio_of_sums_on_every_resample():
    rng = np.random.default_rng(0)
    n = 80
    n_tokens = rng.integers(5, 500, size=n)
    nll = n_tokens * rng.uniform(2.0, 4.0, size=n)
    df = pd.DataFrame({"nll": nll, "n_tokens": n_tokens})
    got = bootstrap_ci(df, perplexity, n_boot=500, seed=7)["perplexity"]
    # the same draws, computed independently and vectorised
    idx = np.random.default_rng(7).integers(0, n, size=(500, n))
    ppl = np.exp(nll[idx].sum(axis=1) / n_tokens[idx].sum(axis=1))
    assert got == pytest.approx(tuple(np.quantile(ppl, [0.025, 0.975])), rel=1e-12)
    point = perplexity(df)["perplexity"]
    assert got[0] < point < got[1]


def test_deterministic_in_seed():
    df = pd.DataFrame({"x": np.random.default_rng(1).normal(size=100)})
    a = bootstrap_ci(df, mean_of("x"), n_boot=200, seed=5)
    assert a == bootstrap_ci(df, mean_of("x"), n_boot=200, seed=5)
    assert a != bootstrap_ci(df, mean_of("x"), n_boot=200, seed=6)


def test_index_of_the_input_does_not_matter():
    df = pd.DataFrame({"x": np.arange(50.0)}, index=np.arange(50) * 7 + 3)
    assert bootstrap_ci(df, mean_of("x"), n_boot=100) == bootstrap_ci(
        df.reset_index(drop=True), mean_of("x"), n_boot=100
    )


def test_grouped_resampling_takes_whole_groups():
    sizes = {"p0": 1, "p1": 2, "p2": 3, "p3": 5}
    df = pd.DataFrame({"prompt": [g for g, k in sizes.items() for _ in range(k)]})
    df["x"] = np.arange(len(df), dtype=float)
    seen: list[pd.DataFrame] = []

    def check(resample: pd.DataFrame) -> dict[str, float]:
        seen.append(resample)
        return {"mean": resample["x"].mean()}

    bootstrap_ci(df.sample(frac=1.0, random_state=0), check, n_boot=50, groups="prompt")
    resamples = seen[-50:]  # the calls before probe which columns the aggregate reads
    assert len(resamples) == 50
    for resample in resamples:
        counts = resample.groupby("prompt")["x"].agg(["size", "nunique"])
        for prompt, row in counts.iterrows():
            assert row["nunique"] == sizes[prompt]  # every row of a drawn group comes along
            assert row["size"] % sizes[prompt] == 0  # ... as many times as the group was drawn
        assert resample["prompt"].nunique() <= len(sizes)


def test_grouped_equals_row_bootstrap_of_group_means_and_is_wider_than_naive():
    """Three identical copies per prompt carry one prompt's information, not three."""
    rng = np.random.default_rng(4)
    base = pd.DataFrame({"prompt": np.arange(40), "x": rng.normal(size=40)})
    tripled = pd.concat([base] * 3, ignore_index=True)
    grouped = bootstrap_ci(tripled, mean_of("x"), n_boot=400, seed=3, groups="prompt")["mean"]
    per_prompt = bootstrap_ci(base, mean_of("x"), n_boot=400, seed=3)["mean"]
    assert grouped == pytest.approx(per_prompt, rel=1e-12)
    naive = bootstrap_ci(tripled, mean_of("x"), n_boot=400, seed=3)["mean"]
    assert (grouped[1] - grouped[0]) > 1.4 * (naive[1] - naive[0])  # ~sqrt(3) wider


def test_nan_resamples_are_skipped_and_all_nan_gives_nan():
    df = pd.DataFrame({"x": [0.0, 0.0, 1.0, 2.0]})

    def agg(d: pd.DataFrame) -> dict[str, float]:
        total = d["x"].sum()
        return {"ratio": 1.0 / total if total else math.nan, "never": math.nan}

    out = bootstrap_ci(df, agg, n_boot=200)
    assert all(math.isfinite(v) for v in out["ratio"])
    assert all(math.isnan(v) for v in out["never"])


def test_bad_arguments():
    df = pd.DataFrame({"x": [1.0]})
    with pytest.raises(ValueError, match="at least one"):
        bootstrap_ci(df.iloc[:0], mean_of("x"))
    with pytest.raises(ValueError, match="alpha"):
        bootstrap_ci(df, mean_of("x"), alpha=1.5)
    with pytest.raises(ValueError, match="group column"):
        bootstrap_ci(df, mean_of("x"), groups="prompt")


def test_speed_1000_resamples_of_500_rows():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"nll": rng.gamma(2.0, size=500), "n_tokens": rng.integers(1, 100, size=500)})
    start = time.perf_counter()
    bootstrap_ci(df, perplexity, n_boot=1000)
    assert time.perf_counter() - start < 1.0


def test_seed_summary():
    mean, std, n = seed_summary([1.0, 2.0, 3.0])
    assert (mean, std, n) == (2.0, 1.0, 3)
    mean, std, n = seed_summary([4.0])
    assert mean == 4.0 and math.isnan(std) and n == 1
    mean, std, n = seed_summary([1.0, float("nan"), 3.0])  # a NaN seed is not skipped: no mean
    assert math.isnan(mean) and math.isnan(std) and n == 3
    assert seed_summary(np.array([5, 7])) == (6.0, pytest.approx(math.sqrt(2)), 2)
    with pytest.raises(ValueError):
        seed_summary([])


def test_columns_the_aggregate_does_not_read_are_not_copied():
    """Text columns ride along in sample tables; pruning them changes no interval, only the speed."""
    from harness.statistics import used_columns

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"nll": rng.gamma(2.0, size=200), "n_tokens": rng.integers(1, 100, size=200)})
    df["text"] = ["a fairly long generated continuation " * 20] * 200
    df["prompt"] = np.arange(200) // 2
    df["doc"] = [f"doc-{i // 2}" for i in range(200)]
    assert used_columns(df, perplexity) == ["nll", "n_tokens", "prompt"]  # numbers are kept, text probed
    assert used_columns(df, perplexity, keep=["doc"]) == ["nll", "n_tokens", "prompt", "doc"]
    assert used_columns(df, lambda d: {"n": float(d["doc"].nunique())}) == [
        "nll",
        "n_tokens",
        "prompt",
        "doc",
    ]
    seen: list[list[str]] = []

    def spy(d: pd.DataFrame) -> dict[str, float]:
        seen.append(list(d.columns))
        return perplexity(d)

    pruned = bootstrap_ci(df, spy, n_boot=100, seed=1, groups="prompt")
    assert seen[-1] == ["nll", "n_tokens", "prompt"]  # no text copied
    idx = np.random.default_rng(1).integers(0, 100, size=(100, 100))  # the same group draws, by hand
    rows = (idx[:, :, None] * 2 + np.arange(2)).reshape(100, -1)
    nll, tok = df["nll"].to_numpy(), df["n_tokens"].to_numpy()
    ppl = np.exp(nll[rows].sum(1) / tok[rows].sum(1))
    assert pruned["perplexity"] == pytest.approx(tuple(np.quantile(ppl, [0.025, 0.975])), rel=1e-12)
