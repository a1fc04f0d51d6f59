"""Plan-match (docs/tasks/plan_match.md): the fraction of generated sentences whose tagged action equals the
action the planner planned for them — does the conditioned LM write what it was told to write?

The generated texts are the shared unconditional samples (``harness.generation``, same defaults as
``mauve``/``latent_ppl``, so no extra generation); ``Generation.plans`` holds one planned action per
generated sentence. Each text is split and tagged by the suite's ``ActionTagger`` and compared with the
plan position by position. A final sentence cut off by the token budget (the text does not end with
sentence punctuation) is left out: its tag describes a fragment. When the planner's sentence count
differs from the tagger's, the first ``min`` sentences are compared and the row records both counts
(``count_agreement`` reports how often they agree; a low value means the planner and the tagger split
sentences differently, and plan_match is then only indicative). ``plan_match_chance`` is the agreement
expected if the written actions ignored the plan — ``Σ_k p_plan(k)·p_tag(k)`` over the compared
sentences — the floor plan_match must be read against (with K actions it is not 1/K: both
distributions are skewed).

The task needs the ``plans`` capability (``Task.needs``): a suite pairing it with a model that does
not declare it fails planning before any work, or leaves the pair out with ``on_incapable: skip`` — a
missing number must not look like a measured one. An adapter that declares ``plans`` but returns none
fails the evaluation with ``MissingPlansError``.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from harness.action_usage import COLLAPSE_ENTROPY, usage_stats
from harness.adapters import PlanevalLM, generation_needs
from tasks.base import TASKS, MetricInfo, Task, TaskContext
from tasks.generation import UnconditionalParams, generations

#: a text whose stripped end is one of these ends a sentence (else its last sentence is a fragment)
SENTENCE_END = (".", "!", "?", '."', '!"', '?"', ".'", ".)")


class MissingPlansError(ValueError):
    """The model returned no plans: plan_match needs a planner model."""


class PlanMatchParams(UnconditionalParams):
    """Generation: ``UnconditionalParams`` (shared with mauve and latent_ppl, so one set of samples)."""


def compare(plans: list[int], tagged: list[int], text: str) -> dict[str, int]:
    """Matches between plan and tags over the complete sentences both cover (``n_sentences`` counts every
    tagged sentence, fragment included, to compare with the planner's count)."""
    complete = len(tagged)
    if complete and not text.rstrip().endswith(SENTENCE_END):
        complete -= 1  # the last sentence is a fragment cut by the token budget
    n = min(len(plans), complete)
    matches = int(np.sum(np.asarray(plans[:n]) == np.asarray(tagged[:n]))) if n else 0
    return {"n_plans": len(plans), "n_sentences": len(tagged), "n_compared": n, "n_match": matches}


@TASKS.register("plan_match")
class PlanMatch(Task):
    """Agreement between planned actions and the actions of the sentences actually generated."""

    Params = PlanMatchParams
    limit_params = ("n_samples",)
    version = "3"  # 3: plan_entropy (the collapse check at evaluation)

    def needs(self, params: PlanMatchParams) -> frozenset[str]:
        return frozenset({"plans"}) | generation_needs(params.temperature, params.stop_at_eos)

    def artifacts(self, params: PlanMatchParams) -> tuple[str, ...]:
        return ("actions",)

    metrics = {
        "plan_match": MetricInfo(
            True, "fraction of generated sentences whose tagged action is the planned one"
        ),
        "count_agreement": MetricInfo(
            True, "fraction of samples where planner and tagger count the same sentences"
        ),
        "plan_match_chance": MetricInfo(
            False, "agreement expected if the written actions were independent of the plan", rank=False
        ),
        "plan_entropy": MetricInfo(
            True,
            "entropy of the planned actions' histogram / ln K (0: the planner always plans one "
            f"action — collapsed below {COLLAPSE_ENTROPY}; 1: all K equally often)",
        ),
    }

    def evaluate(self, model: PlanevalLM, ctx: TaskContext) -> pd.DataFrame:
        params: PlanMatchParams = ctx.params
        protocol = params.protocol(ctx.seed)
        gens = generations(model, ctx).unconditional(protocol)
        n_actions = int(ctx.actions.n_actions)
        tagged = ctx.actions.tag(list(gens["text"]), progress=ctx.progress)
        rows = []
        for g, tags in zip(gens.itertuples(index=False), tagged, strict=True):
            plans = list(g.plans) if g.plans is not None else None
            if plans is None:
                raise MissingPlansError(
                    f"sample {g.sample_id} of {ctx.model_key or model.identity!r} has no plan"
                )
            rows.append(
                {"sample_id": g.sample_id, "plans": plans, "tagged": tags, **compare(plans, tags, g.text),
                 "n_actions": n_actions}
            )  # fmt: skip
        return pd.DataFrame(rows)

    def aggregate(self, samples: pd.DataFrame, params: PlanMatchParams) -> dict[str, float]:
        if "n_compared" not in samples.columns:  # a skipped row stored by planeval < capabilities
            return {}
        compared = int(samples["n_compared"].sum())
        return {
            "plan_match": samples["n_match"].sum() / compared if compared else float("nan"),
            "count_agreement": float((samples["n_plans"] == samples["n_sentences"]).mean()),
            "plan_match_chance": chance_agreement(samples),
            "plan_entropy": plan_entropy(samples),
        }


def plan_entropy(samples: pd.DataFrame) -> float:
    """Normalised entropy of every planned action of the samples (the planner's action usage)."""
    planned = [int(a) for plans in samples["plans"] for a in list(plans)]
    k = int(samples["n_actions"].iloc[0]) if len(samples) else 0
    return usage_stats(planned, k)["entropy_norm"] if planned and k > 1 else float("nan")


def chance_agreement(samples: pd.DataFrame) -> float:
    """``Σ_k p_plan(k)·p_tag(k)`` over the compared positions: plan_match if tags ignored plans."""
    planned: Counter[int] = Counter()
    written: Counter[int] = Counter()
    for plans, tags, n in zip(samples["plans"], samples["tagged"], samples["n_compared"], strict=True):
        planned.update(int(a) for a in list(plans)[:n])
        written.update(int(a) for a in list(tags)[:n])
    total = sum(planned.values())
    return sum(c * written[k] for k, c in planned.items()) / total**2 if total else float("nan")
