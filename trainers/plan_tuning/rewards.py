"""GRPO rewards: ``R = 1[answer correct] + λ·sim(generated plan, reference plan)``
(docs/families/plan_tuned.md).

Each term is a TRL reward function (``completions`` plus dataset columns as keyword lists) and TRL's
``reward_weights`` carry ``[1, λ]``, so the trainer logs both terms apart; ``total_reward`` computes the
same sum for one completion. Similarities (in [0, 1], over the plan lines joined by newlines):

* ``rouge_l``: rouge-score's ROUGE-L F1 (no stemming) — penalises missing and extra sub-goals alike;
* ``token_sort``: rapidfuzz ``token_sort_ratio`` / 100;
* ``token_set``: rapidfuzz ``token_set_ratio`` / 100 — lenient: a plan whose words are a subset of the
  reference's scores 1, so with a large λ a policy can profit from short plans (kept for comparison).

A completion without a plan block scores 0 similarity.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, Literal

from rapidfuzz import fuzz
from rouge_score import rouge_scorer

from harness.corpus.arithmetic.format import parse_completion
from trainers.plan_tuning.answers import is_correct

Similarity = Literal["rouge_l", "token_sort", "token_set"]


@lru_cache(maxsize=1)
def _rouge() -> rouge_scorer.RougeScorer:
    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def _joined(plan: Sequence[str]) -> str:
    return "\n".join(plan)


SIMILARITIES: dict[str, Callable[[Sequence[str], Sequence[str]], float]] = {
    "rouge_l": lambda gen, ref: _rouge().score(_joined(ref), _joined(gen))["rougeL"].fmeasure,
    "token_sort": lambda gen, ref: fuzz.token_sort_ratio(_joined(gen), _joined(ref)) / 100.0,
    "token_set": lambda gen, ref: fuzz.token_set_ratio(_joined(gen), _joined(ref)) / 100.0,
}


def plan_similarity(generated: Sequence[str], reference: Sequence[str], similarity: Similarity) -> float:
    if not generated or not reference:
        return 0.0
    return float(SIMILARITIES[similarity](list(generated), list(reference)))


def answer_reward(
    completions: list[str], answer: list[str], require_marker: bool = True, **_: Any
) -> list[float]:
    """1 when the completion's ``####`` answer equals the gold by value, else 0."""
    return [
        1.0 if is_correct(c, a, require_marker) else 0.0 for c, a in zip(completions, answer, strict=True)
    ]


def make_answer_reward(require_marker: bool = True) -> Callable[..., list[float]]:
    def answer_correct(completions: list[str], answer: list[str], **kwargs: Any) -> list[float]:
        return answer_reward(completions, answer, require_marker)

    return answer_correct


def make_plan_reward(similarity: Similarity = "rouge_l") -> Callable[..., list[float]]:
    """``sim(plan of the completion, reference plan)`` per completion (TRL passes the ``plan`` column)."""
    if similarity not in SIMILARITIES:
        raise ValueError(f"unknown similarity {similarity!r} (valid: {', '.join(SIMILARITIES)})")

    def plan_similarity_reward(
        completions: list[str], plan: list[Sequence[str]], **kwargs: Any
    ) -> list[float]:
        return [
            plan_similarity(parse_completion(c).plan, ref, similarity)
            for c, ref in zip(completions, plan, strict=True)
        ]

    return plan_similarity_reward


def total_reward(
    completion: str,
    gold: str,
    reference_plan: Sequence[str],
    plan_weight: float,
    similarity: Similarity = "rouge_l",
    require_marker: bool = True,
) -> float:
    """``1[answer correct] + λ·sim`` for one completion (what GRPO maximises, before group scaling)."""
    r = 1.0 if is_correct(completion, gold, require_marker) else 0.0
    if plan_weight:
        r += plan_weight * plan_similarity(parse_completion(completion).plan, reference_plan, similarity)
    return r
