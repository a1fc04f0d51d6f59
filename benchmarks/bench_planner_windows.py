"""Planner fine-tuning's planning cost on long articles: the rows a batch of training windows reads
(``Batch.spans``) against the whole-document plan it replaced, forward and backward through the paper's
planner (1 layer, 2 heads, d = 384, 64 preceding sentences).

The articles are WikiText-2-sized (120 sentences of ~25 tokens); 16 windows of 128 tokens, as the
WikiText suites' preset had.
Run: ``.venv/bin/pytest benchmarks/bench_planner_windows.py --benchmark-enable -q``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trainers.planner.data import Example, sample_batch
from trainers.planner.modules import Planner

SENTENCES, TOKENS_PER_SENTENCE, D = 120, 25, 384
_TIMES: dict[str, float] = {}


@pytest.fixture(scope="module")
def setup() -> tuple[Planner, object]:
    rng = np.random.default_rng(0)
    n = SENTENCES * TOKENS_PER_SENTENCE
    docs = [
        Example(
            rng.integers(1, 8000, n),
            np.minimum(np.arange(n) // TOKENS_PER_SENTENCE, SENTENCES),
            torch.randn(SENTENCES, D),
            torch.from_numpy(rng.integers(0, 64, SENTENCES)),
        )
        for _ in range(8)
    ]
    torch.manual_seed(0)
    return Planner(torch.randn(64, D)), sample_batch(docs, 16, 128, (0, 0, 0))


def _step(planner: Planner, batch, spans) -> int:
    planner.zero_grad()
    out = planner.plan_documents([ex.embeddings for ex in batch.docs], spans)
    torch.cat(out).sum().backward()
    return sum(len(o) for o in out)


@pytest.mark.benchmark(group="planner-windows")
def test_whole_documents_reference(benchmark, setup) -> None:
    planner, batch = setup
    rows = benchmark.pedantic(_step, args=(planner, batch, None), rounds=3, warmup_rounds=1)
    assert rows == 16 * (SENTENCES + 1)
    _TIMES["whole"] = benchmark.stats.stats.mean


@pytest.mark.benchmark(group="planner-windows")
def test_window_rows(benchmark, setup, record_figure) -> None:
    planner, batch = setup
    rows = benchmark.pedantic(_step, args=(planner, batch, batch.spans()), rounds=3, warmup_rounds=1)
    assert rows < 16 * (SENTENCES + 1) / 10
    _TIMES["window"] = benchmark.stats.stats.mean
    if "whole" in _TIMES:
        ratio = _TIMES["whole"] / _TIMES["window"]
        record_figure("planner windows", f"{rows} rows vs {16 * (SENTENCES + 1)}: {ratio:.1f}x faster")
        assert ratio > 3
