"""Table 1 rows compare what their names say (issue 14, planner family).

OA is trained with oracle actions and evaluated with planner-predicted ones (the paper's protocol); the
oracle-at-evaluation upper bound is the same trained model; a planner that predicts one action for
every sentence is flagged as collapsed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from _models import micro_model, tiny_tokenizer

from harness.catalog import VARIANTS, include_dir
from harness.runner import Runner, plan_suite
from harness.specs import SuiteSpec
from trainers.planner.data import Example
from trainers.planner.diagnostics import COLLAPSE_ENTROPY, plan_usage, usage_stats
from trainers.planner.model import PlannedLM

DATA = Path(__file__).parent / "data" / "planner"
K, D_ENC = 4, 384


def _variants(tmp: Path) -> None:
    """micro-oa (oracle in training and evaluation), micro-oa-paper (the paper's OA) and micro-mix0."""
    include_dir(DATA)


def _suite() -> SuiteSpec:
    return SuiteSpec(
        name="oa-protocol",
        corpus={"source": "synthetic", "params": {"n_articles": 120}},
        tokenizer={"kind": "bpe", "vocab_size": 400},
        artifacts={"actions": {"n_actions": 8}},
        variants=["micro-oa", "micro-oa-paper", "micro-mix0"],
        tasks=[{"name": "perplexity", "alias": "ppl-rolling", "params": {"mode": "rolling"}}],
    )


def test_the_shipped_oa_row_is_evaluated_with_predicted_actions():
    oa, upper = VARIANTS.get("cornille-oa"), VARIANTS.get("oracle-upper-bound")
    assert oa.params["train_actions"] == "oracle" and oa.params["eval_actions"] == "predicted"
    assert upper.params["eval_actions"] == "oracle" and "UPPER BOUND" in upper.description


def test_variants_differing_only_in_evaluation_share_one_training(tmp_path):
    _variants(tmp_path)
    plan = plan_suite(_suite(), "suite")
    by = {m.variant.name: m for m in plan.models}
    oa, paper, mix0 = by["micro-oa"], by["micro-oa-paper"], by["micro-mix0"]
    assert oa.train_key == paper.train_key == mix0.train_key  # one training for the three
    assert oa.key != paper.key  # … evaluated two ways
    assert paper.key == mix0.key  # mix at q = 0, evaluated with predicted actions, *is* the paper's OA
    described = Runner(tmp_path / "home").describe(plan)
    assert "shares the training of micro-oa" in described
    train_rows = [ln for ln in described.splitlines() if f" {oa.train_key} " in ln]
    assert len(train_rows) == 2 and "shares the training" in train_rows[1]  # built once, listed twice


def test_oa_trains_once_and_evaluates_with_predicted_actions(tmp_path):
    _variants(tmp_path)
    runner = Runner(tmp_path / "home", progress=False, log=lambda _: None)
    plan = plan_suite(_suite(), "suite")
    summary = runner.run(plan)
    assert not summary.failed
    planner_runs = [
        p for p in (tmp_path / "home" / "cache" / "train").iterdir() if not p.name.startswith(".")
    ]
    trained = [p for p in planner_runs if (p / "planner.json").exists()]
    assert len(trained) == 1  # micro-oa, micro-oa-paper and micro-mix0: one planner fine-tuning
    by = {m.variant.name: m for m in plan.models}
    assert runner.model(by["micro-oa"]).spec.eval_actions == "oracle"
    assert runner.model(by["micro-oa-paper"]).spec.eval_actions == "predicted"
    from leaderboard.store import Store

    results = Store(runner.db_url).results(suite="oa-protocol")
    ppl = results[results.metric == "perplexity"].set_index("variant")["value"]
    assert ppl["micro-oa-paper"] == ppl["micro-mix0"]
    assert ppl["micro-oa"] != ppl["micro-oa-paper"]  # oracle actions at evaluation are future information


def test_usage_stats_flags_a_constant_planner():
    assert usage_stats([3] * 50, 8)["collapsed"]
    assert usage_stats([3] * 50, 8)["entropy_norm"] == 0.0
    spread = usage_stats(list(range(8)) * 10, 8)
    assert not spread["collapsed"] and spread["entropy_norm"] == pytest.approx(1.0)
    assert spread["distinct"] == 8 and spread["top_share"] == pytest.approx(1 / 8)
    # one or two of 32 actions in use is a collapse (ln 2 / ln 32 = 0.2), three evenly is not
    assert usage_stats([0, 1] * 20 + [0], 32)["entropy_norm"] < COLLAPSE_ENTROPY
    assert not usage_stats([0, 1, 2] * 20, 32)["collapsed"]


def test_plan_usage_of_a_planted_constant_planner():
    torch.manual_seed(0)
    centroids = torch.randn(K, D_ENC)
    model = PlannedLM.build(
        micro_model(len(tiny_tokenizer())), centroids, "all", "unused", planner={"max_sentences": 8}
    )
    docs = [
        Example(
            np.zeros(4, dtype=np.int64), np.zeros(4, dtype=np.int64), torch.randn(3, D_ENC), torch.zeros(3)
        )
        for _ in range(10)
    ]
    with torch.no_grad():  # plant a collapse: the head always says action 2
        model.planner.head.bias.fill_(-1e4)
        model.planner.head.bias[2] = 1e4
    collapsed = plan_usage(model, docs)
    assert collapsed["collapsed"] and collapsed["distinct"] == 1 and collapsed["top_share"] == 1.0
    assert collapsed["n_predictions"] == 30


def test_plan_entropy_at_evaluation():
    import pandas as pd

    from tasks.plan_match import PlanMatch

    def table(plans: list[list[int]]) -> pd.DataFrame:
        n = [len(p) for p in plans]
        return pd.DataFrame(
            {"sample_id": range(len(plans)), "plans": plans, "tagged": plans, "n_plans": n,
             "n_sentences": n, "n_compared": n, "n_match": n, "n_actions": 4}
        )  # fmt: skip

    params = PlanMatch.Params()
    assert PlanMatch().aggregate(table([[2, 2], [2, 2, 2]]), params)["plan_entropy"] == 0.0
    assert PlanMatch().aggregate(table([[0, 1], [2, 3]]), params)["plan_entropy"] == pytest.approx(1.0)
