"""Leaderboard statistics: bootstrap CIs and paired tests against straightforward implementations.

The data imitate a real per-sample table: 10,000 documents with per-document sums (``nll``,
``n_tokens``) and a generated-text column that no aggregate reads, and the aggregate is perplexity
(a ratio of sums, re-aggregated on every resample). Three ways to get the same interval:

* ``planeval``: ``bootstrap_ci`` (draws made at once, only the columns the aggregate reads are copied);
* ``naive``: ``DataFrame.sample(frac=1, replace=True)`` per resample, what one writes first;
* ``numpy``: the draws as one index matrix and sums along it; only possible when the aggregate is
  known to be a ratio of sums, so it is the floor for a generic (any ``aggregate``) bootstrap.

The paired test compares two such tables on shared sample ids: ``paired_bootstrap`` vs a loop that
looks the drawn ids up in each table by label (``.loc``). Ratios are of the fastest rounds, measured in
the same run. Run: ``.venv/bin/pytest benchmarks/bench_stats.py --benchmark-enable -q``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from harness.statistics import bootstrap_ci, used_columns
from leaderboard.paired import pair, paired_bootstrap

N_ROWS = 10_000
N_BOOT = 1000
N_PAIRED = 2_000
_TIMES: dict[str, float] = {}


def perplexity(df: pd.DataFrame) -> dict[str, float]:
    return {"perplexity": math.exp(df["nll"].to_numpy().sum() / df["n_tokens"].to_numpy().sum())}


def table(n: int, seed: int, scale: float = 1.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    tokens = rng.integers(50, 500, size=n)
    return pd.DataFrame(
        {
            "sample_id": [f"doc-{i}" for i in range(n)],
            "n_tokens": tokens,
            "nll": tokens * rng.uniform(2.5, 3.5, size=n) * scale,
            "generated": [f"generated continuation number {i} " * 8 for i in range(n)],
        }
    )


@pytest.fixture(scope="module")
def samples() -> pd.DataFrame:
    return table(N_ROWS, 0)


def naive_bootstrap(df: pd.DataFrame, n_boot: int, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    vals = [
        perplexity(df.sample(frac=1.0, replace=True, random_state=rng))["perplexity"] for _ in range(n_boot)
    ]
    lo, hi = np.quantile(vals, [0.025, 0.975])
    return float(lo), float(hi)


def numpy_bootstrap(df: pd.DataFrame, n_boot: int, seed: int) -> tuple[float, float]:
    idx = np.random.default_rng(seed).integers(0, len(df), size=(n_boot, len(df)))
    nll, tok = df["nll"].to_numpy(), df["n_tokens"].to_numpy()
    lo, hi = np.quantile(np.exp(nll[idx].sum(1) / tok[idx].sum(1)), [0.025, 0.975])
    return float(lo), float(hi)


@pytest.mark.benchmark(group="bootstrap 10k rows x 1000")
def test_bootstrap_numpy_floor(benchmark, samples: pd.DataFrame) -> None:
    out = benchmark.pedantic(lambda: numpy_bootstrap(samples, N_BOOT, 0), rounds=3, warmup_rounds=1)
    _TIMES["numpy"] = benchmark.stats.stats.min
    _TIMES["numpy_ci"] = out


@pytest.mark.benchmark(group="bootstrap 10k rows x 1000")
def test_bootstrap_naive(benchmark, samples: pd.DataFrame) -> None:
    benchmark.pedantic(lambda: naive_bootstrap(samples, N_BOOT, 0), rounds=2, warmup_rounds=0)
    _TIMES["naive"] = benchmark.stats.stats.min


@pytest.mark.benchmark(group="bootstrap 10k rows x 1000")
def test_bootstrap_planeval(benchmark, samples: pd.DataFrame, record_figure) -> None:
    out = benchmark.pedantic(
        lambda: bootstrap_ci(samples, perplexity, n_boot=N_BOOT), rounds=3, warmup_rounds=1
    )
    ours = benchmark.stats.stats.min
    if "numpy_ci" in _TIMES:  # the same draws as the numpy floor: the same interval
        assert out["perplexity"] == pytest.approx(_TIMES["numpy_ci"], rel=1e-9)
    line = f"planeval {ours:.2f} s"
    if "naive" in _TIMES:
        naive = _TIMES["naive"]
        line += f"; naive DataFrame.sample loop {naive:.2f} s (ours {naive / ours:.1f}x faster)"
    if "numpy" in _TIMES:
        line += (
            f"; numpy ratio-of-sums floor {_TIMES['numpy']:.2f} s (ours/floor = {ours / _TIMES['numpy']:.1f})"
        )
    benchmark.extra_info.update({k: round(v, 4) for k, v in _TIMES.items() if isinstance(v, float)})
    record_figure(f"bootstrap {N_ROWS} rows x {N_BOOT}", line)


@pytest.fixture(scope="module")
def two_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    a = table(N_PAIRED, 1)
    b = table(N_PAIRED, 1, scale=1.02).sample(frac=1.0, random_state=0)  # same documents, another order
    return a, b


def naive_paired(a: pd.DataFrame, b: pd.DataFrame, n_boot: int, seed: int) -> tuple[float, float]:
    ids = a["sample_id"].to_numpy()
    ia, ib = a.set_index("sample_id"), b.set_index("sample_id")
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n_boot):
        drawn = ids[rng.integers(0, len(ids), size=len(ids))]
        diffs.append(perplexity(ia.loc[drawn])["perplexity"] - perplexity(ib.loc[drawn])["perplexity"])
    lo, hi = np.quantile(diffs, [0.025, 0.975])
    return float(lo), float(hi)


@pytest.mark.benchmark(group="paired bootstrap 2k samples x 1000")
def test_paired_naive(benchmark, two_tables) -> None:
    benchmark.pedantic(lambda: naive_paired(*two_tables, N_BOOT, 0), rounds=2, warmup_rounds=0)
    _TIMES["paired_naive"] = benchmark.stats.stats.min


@pytest.mark.benchmark(group="paired bootstrap 2k samples x 1000")
def test_paired_planeval(benchmark, two_tables, record_figure) -> None:
    a, b = two_tables

    def run() -> dict[str, tuple[float, float]]:
        columns = used_columns(a, perplexity)  # what compare_samples does: copy only what is read
        return paired_bootstrap(pair(a, b, columns=columns), perplexity, n_boot=N_BOOT)

    out = benchmark.pedantic(run, rounds=3, warmup_rounds=1)
    assert out["perplexity"][1] < 0  # b is 2% worse on every document
    ours = benchmark.stats.stats.min
    line = f"planeval {ours:.2f} s"
    if "paired_naive" in _TIMES:
        naive = _TIMES["paired_naive"]
        line += f"; naive .loc loop {naive:.2f} s (ours {naive / ours:.1f}x faster)"
    record_figure(f"paired bootstrap {N_PAIRED} samples x {N_BOOT}", line)
