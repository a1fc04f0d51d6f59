"""planeval's plan match as an ``evaluate`` module: the fraction of generated sentences whose tagged
action is the one the planner planned for them, with the chance level it must be read against.

Each text is compared by ``tasks.plan_match.compare`` (a final sentence cut off by the token budget is
left out) and the metrics are ``tasks.plan_match.PlanMatch``'s ``aggregate``, so the numbers are the
leaderboard's for the same plans and tags. Tagging texts with actions needs the suite's tagger; this
module takes the action ids already tagged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import datasets
import evaluate
import pandas as pd

from tasks.plan_match import PlanMatch, PlanMatchParams, compare

_DESCRIPTION = """planeval plan match: over the complete sentences of each generated text, the fraction
whose tagged action equals the planned one (``plan_match``, micro-averaged over sentences), how often
planner and tagger count the same sentences (``count_agreement``), the agreement expected if the written
actions ignored the plan (``plan_match_chance``, sum_k p_plan(k) p_tag(k)) and, given the number of
actions K, the normalised entropy of the planned actions (``plan_entropy``: 0 = a collapsed planner)."""

_KWARGS_DESCRIPTION = """
Args:
    predictions: per generated text, the action ids its sentences were tagged with.
    references: per generated text, the action ids the planner planned, one per sentence.
    texts: per generated text, the text itself (a last sentence without end punctuation is a fragment
        and is not compared).
    n_actions: optional, the number of actions K, for plan_entropy.
    return_samples: also return each text's counts (n_plans, n_sentences, n_compared, n_match).
Returns:
    plan_match, count_agreement, plan_match_chance (and plan_entropy with n_actions).
Examples:
    >>> metric = evaluate.load(tasks.evaluate_metrics.path("plan_match"))
    >>> metric.compute(predictions=[[1, 5, 3]], references=[[1, 2, 3]], texts=["A. B. C."])["plan_match"]
    0.6666666666666666
"""

_CITATION = "planeval, tasks/plan_match.py (docs/tasks/plan_match.md)"


class PlanevalPlanMatch(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            module_type="metric",
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("int64")),
                    "references": datasets.Sequence(datasets.Value("int64")),
                }
            ),
        )

    def _compute(
        self,
        predictions: Sequence[Sequence[int]],
        references: Sequence[Sequence[int]],
        texts: Sequence[str] | None = None,
        n_actions: int | None = None,
        return_samples: bool = False,
    ) -> dict[str, Any]:
        if texts is None or len(texts) != len(predictions):
            got = "no texts" if texts is None else f"{len(texts)} texts"
            raise ValueError(f"plan_match needs each generated text (texts=): {got} for {len(predictions)}")
        counts = [
            compare(list(plans), list(tags), text)
            for tags, plans, text in zip(predictions, references, texts, strict=True)
        ]
        samples = pd.DataFrame(
            [
                {"plans": list(plans), "tagged": list(tags), **c, "n_actions": n_actions or 0}
                for tags, plans, c in zip(predictions, references, counts, strict=True)
            ]
        )
        out: dict[str, Any] = dict(PlanMatch().aggregate(samples, PlanMatchParams()))
        if n_actions is None and math.isnan(out["plan_entropy"]):
            out.pop("plan_entropy")
        if return_samples:
            out["samples"] = counts
        return out
