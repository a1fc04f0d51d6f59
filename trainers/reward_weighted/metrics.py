"""Sequence metrics that turn K candidates into a preference ranking (higher is better, in [0, 1]).

The paper ranks by METEOR, which needs WordNet data downloaded at run time, so it is not offered; any
metric here (or one registered with ``@SEQUENCE_METRICS.register``) can define the preferences.
``action_edit`` compares the writing-action sequences of candidate and reference (harness.actions) and
so requests the suite's writing actions (``RewardWeightedTrainer.artifacts``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from harness.registry import Registry

#: (candidates, references, action tagger or None) → one score per pair, higher is better
ScoreFn = Callable[[Sequence[str], Sequence[str], Any], list[float]]


@dataclass(frozen=True)
class SequenceMetric:
    score: ScoreFn
    needs_actions: bool = False
    description: str = ""


SEQUENCE_METRICS: Registry[SequenceMetric] = Registry("sequence metric", "planeval.sequence_metrics")


def _rouge(rouge_type: str) -> ScoreFn:
    def score(preds: Sequence[str], refs: Sequence[str], actions: Any = None) -> list[float]:
        from harness.text.rouge import score_rouge

        return [s[rouge_type] for s in score_rouge(preds, refs, rouge_types=(rouge_type,))]

    return score


for _name in ("rouge1", "rouge2", "rougeL"):
    SEQUENCE_METRICS.add(
        _name,
        SequenceMetric(_rouge(_name), description=f"rouge-score {_name} F1 (no stemming)"),
        source=__name__,
    )


def _exact_match(preds: Sequence[str], refs: Sequence[str], actions: Any = None) -> list[float]:
    return [float(" ".join(p.split()) == " ".join(r.split())) for p, r in zip(preds, refs, strict=True)]


SEQUENCE_METRICS.add(
    "exact_match",
    SequenceMetric(_exact_match, description="1 if equal up to whitespace, else 0 (many ties)"),
    source=__name__,
)


def _action_edit(preds: Sequence[str], refs: Sequence[str], actions: Any = None) -> list[float]:
    """1 − normalised Levenshtein distance between the action-id sequences (the action edit
    distance of docs/tasks/action_edit.md, as a similarity)."""
    if actions is None:
        raise ValueError("the action_edit metric needs the suite's writing actions (ActionTagger)")
    from rapidfuzz.distance import Levenshtein

    tagged = actions.tag([*preds, *refs])
    p_ids, r_ids = tagged[: len(preds)], tagged[len(preds) :]
    return [1.0 - Levenshtein.normalized_distance(p, r) for p, r in zip(p_ids, r_ids, strict=True)]


SEQUENCE_METRICS.add(
    "action_edit",
    SequenceMetric(
        _action_edit, needs_actions=True, description="1 - normalised edit distance of writing actions"
    ),
    source=__name__,
)


def score_sequences(name: str, preds: Sequence[str], refs: Sequence[str], actions: Any = None) -> list[float]:
    """Score each candidate against its reference with the named metric."""
    metric = SEQUENCE_METRICS.get(name)
    if metric.needs_actions and actions is None:
        raise ValueError(f"sequence metric {name!r} needs the suite's writing actions")
    return [float(s) for s in metric.score(preds, refs, actions)]
