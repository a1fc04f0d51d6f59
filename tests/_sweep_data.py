"""A synthetic trade-off leaderboard (the oracle-mix sweep, scheduled sampling and lm-only) with real
per-sample tables, for the sweep plot's tests and the figure in the docs.

The numbers are planted, not measured: perplexity falls and plan match falls as the predicted fraction
q grows (the shape the paper's Fig. 4 reports), with per-sample noise so the intervals are real
bootstrap intervals. Run ``python tests/_sweep_data.py OUT_DIR`` to draw ``OUT_DIR/sweep.png``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from _leaderboard_data import Fixture, perplexity_samples

from leaderboard.store import Store

PPL_PARAMS = {"mode": "paper", "window": 128, "split": "test", "max_docs": 20}
MATCH_PARAMS = {"n_samples": 200, "max_new_tokens": 128}
K = 32  # actions
#: variant -> (nll per token, probability that a written sentence follows its planned action)
SWEEP: dict[str, tuple[float, float | None]] = {
    "lm-only": (2.62, None),  # no planner: plan_match does not apply (the suite skips it)
    **{f"oracle-mix-{q}": (2.58 - 0.08 * q / 100, 0.62 - 0.27 * q / 100) for q in (0, 25, 50, 75, 100)},
    "scheduled-sampling": (2.53, 0.47),
}


def plan_match_samples(n: int, p_match: float, seed: int) -> pd.DataFrame:
    """Generated samples with a plan and the tagged actions of their sentences: each compared sentence
    matches its plan with probability ``p_match``."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        n_sent = int(rng.integers(3, 9))
        plans = rng.integers(0, K, size=n_sent)
        match = rng.random(n_sent) < p_match
        tagged = np.where(match, plans, (plans + rng.integers(1, K, size=n_sent)) % K)
        rows.append(
            {
                "sample_id": f"g{i}", "plans": plans.tolist(), "tagged": tagged.tolist(), "n_plans": n_sent,
                "n_sentences": n_sent, "n_compared": n_sent, "n_match": int(match.sum()), "n_actions": K,
            }
        )  # fmt: skip
    return pd.DataFrame(rows)


def build_sweep(root: Path) -> Fixture:
    """The store at ``root/sweep.db``: suite ``tradeoff``, tasks ``ppl-paper`` and ``plan_match``, seed 0."""
    fx = Fixture(Store(root / "sweep.db"), root / "cache")
    for i, (variant, (nll, p_match)) in enumerate(SWEEP.items()):
        ppl = perplexity_samples(120, nll, 31 * i + 1, noise=0.08)
        fx.record(
            variant, "planner", "ppl-paper", "perplexity", PPL_PARAMS, ppl, suite="tradeoff", n_boot=200
        )
        if p_match is None:
            continue
        match = plan_match_samples(200, p_match, 31 * i + 2)
        fx.record(
            variant, "planner", "plan_match", "plan_match", MATCH_PARAMS, match, suite="tradeoff", n_boot=200
        )
    return fx


if __name__ == "__main__":
    from harness.cli import main

    out = Path(sys.argv[1])
    fx = build_sweep(out / "data")
    argv = ["plot", "--db", fx.store.url, "--suite", "tradeoff", "--kind", "sweep"]
    sys.exit(main([*argv, "--metrics", "perplexity,plan_match", "--out", str(out)]))
