"""plan_match: planned vs tagged actions of generated sentences, on fake planner adapters whose plans are
known; plain models fail with the model named (or are skipped when asked)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from _tagger import micro_lm, planted_tagger, single_thread, synthetic_corpus  # noqa: F401

from harness.cache import Cache
from harness.hf_adapter import HFCausalLM
from harness.statistics import bootstrap_ci
from tasks.base import TASKS, TaskContext
from tasks.plan_match import MissingPlansError, PlanMatch, PlanMatchParams, compare


class FakePlanner(HFCausalLM):
    """The micro LM with a "planner" that plans exactly what the tagger will find (``shift=0``), or
    another action (``shift=1``): plan_match must then be 1 and 0."""

    shift = 0

    def generate(self, prompts, sampling, *, progress=False):
        gens = super().generate(prompts, sampling, progress=progress)
        tagger = planted_tagger()
        for g, tags in zip(gens, tagger.tag([g.text for g in gens]), strict=True):
            g.plans = [(a + self.shift) % tagger.n_actions for a in tags]
        return gens


def _planner(shift: int) -> FakePlanner:
    base = micro_lm()
    lm = FakePlanner(base.model, base.tokenizer, identity=f"test:planner{shift}")
    lm.shift = shift
    return lm


def _ctx(tmp_path: Path, params: PlanMatchParams, model_key: str = "") -> TaskContext:
    return TaskContext(
        corpus=synthetic_corpus(),
        params=params,
        seed=0,
        work_dir=tmp_path,
        progress=False,
        artifacts={"actions": planted_tagger()},
        model_key=model_key,
        cache=Cache(tmp_path / "cache"),
    )


PARAMS = PlanMatchParams(n_samples=4, max_new_tokens=40)


def test_compare_by_hand() -> None:
    # complete text: every sentence compared
    assert compare([1, 2, 3], [1, 5, 3], "A. B. C.") == {
        "n_plans": 3,
        "n_sentences": 3,
        "n_compared": 3,
        "n_match": 2,
    }
    # cut mid-sentence: the fragment's tag is not compared
    assert compare([1, 2, 3], [1, 2, 4], "A. B. C") == {
        "n_plans": 3,
        "n_sentences": 3,
        "n_compared": 2,
        "n_match": 2,
    }
    # planner and tagger disagree on the count: the common prefix is compared
    assert compare([1, 2], [1, 2, 3, 4], "A. B. C. D!") == {
        "n_plans": 2,
        "n_sentences": 4,
        "n_compared": 2,
        "n_match": 2,
    }
    assert compare([], [], "")["n_compared"] == 0


@pytest.mark.parametrize(("shift", "expected"), [(0, 1.0), (1, 0.0)])
def test_plan_match_on_known_plans(tmp_path: Path, shift: int, expected: float) -> None:
    task = PlanMatch()
    assert TASKS.get("plan_match") is PlanMatch and task.artifacts(PARAMS) == ("actions",)
    assert task.needs(PARAMS) == {"plans", "sampling"}
    table = task.evaluate(_planner(shift), _ctx(tmp_path, PARAMS, model_key=f"planner{shift}"))
    assert len(table) == 4 and table["n_compared"].sum() > 0
    m = task.aggregate(table, PARAMS)
    assert m["plan_match"] == expected
    assert m["count_agreement"] == 1.0  # the fake plans one action per tagged sentence
    for row in table.itertuples():
        assert list(row.tagged) == [(a - shift) % planted_tagger().n_actions for a in row.plans]


def test_plans_survive_the_generation_cache(tmp_path: Path) -> None:
    task = PlanMatch()
    first = task.evaluate(_planner(0), _ctx(tmp_path, PARAMS, model_key="p"))
    second = task.evaluate(_planner(1), _ctx(tmp_path, PARAMS, model_key="p"))  # same key: cached samples
    assert [list(p) for p in first["plans"]] == [list(p) for p in second["plans"]]


def test_an_adapter_that_returns_no_plans_fails_naming_it(tmp_path: Path) -> None:
    """Planning keeps plain models away (they do not declare ``plans``); one that reaches the task
    anyway fails with the model named, never with a number."""
    lm = micro_lm(identity="hf:plain-micro")
    with pytest.raises(MissingPlansError, match="of 'hf:plain-micro' has no plan"):
        PlanMatch().evaluate(lm, _ctx(tmp_path, PARAMS))


def test_a_skipped_row_of_an_older_run_still_aggregates_to_nothing() -> None:
    """Rows stored before capabilities were declared (one ``skipped`` row, no measurement)."""
    table = pd.DataFrame({"sample_id": ["skipped"], "skipped": [True], "reason": ["no plans"]})
    assert PlanMatch().aggregate(table, PARAMS) == {}
    assert bootstrap_ci(table, lambda df: PlanMatch().aggregate(df, PARAMS), n_boot=5) == {}


def test_chance_agreement_by_hand() -> None:
    """Two samples, 4 compared positions: plans 0,0,1 | 1; tags 0,1,1 | 0 (the fragment past n_compared
    is ignored). p_plan = (2/4, 2/4), p_tag = (2/4, 2/4) → chance = .25 + .25 = .5."""
    from tasks.plan_match import chance_agreement

    table = pd.DataFrame(
        {
            "plans": [[0, 0, 1], [1, 5]],
            "tagged": [[0, 1, 1], [0, 5]],
            "n_compared": [3, 1],
        }
    )
    assert chance_agreement(table) == pytest.approx(0.5)
    skewed = pd.DataFrame({"plans": [[0, 0, 0, 1]], "tagged": [[0, 0, 1, 1]], "n_compared": [4]})
    assert chance_agreement(skewed) == pytest.approx(0.75 * 0.5 + 0.25 * 0.5)
