"""The embedded default for math: seeded multi-step arithmetic word problems with a gold plan.

Every document is one problem (``problems.py``); ``Document.text`` is the full plan-tuned training text
(``format.py``) and ``Document.meta`` carries what the math tasks and the plan-tuning trainers read:
``question``, ``answer`` (gold string), ``solution`` (worked steps ending in ``#### answer``), ``plan``
and ``execution`` (lists of lines) and ``level``. Problem ``i`` depends only on the corpus seed,
``seed_offset`` and ``i``, so a smaller corpus is a prefix of a larger one; the level of problem ``i``
cycles through ``levels`` so every level is equally represented in every split.

``gsm8k-jsonl`` (``gsm8k.py``) reads GSM8K-format files into the same document shape, so one training
and evaluation path serves both.
"""

from __future__ import annotations

import random

from pydantic import Field, field_validator

from harness.corpus.arithmetic.format import (
    ANSWER_MARKER,
    PLAN_HEADER,
    PROMPT,
    SOLUTION_HEADER,
    Parsed,
    format_prompt,
    parse_completion,
    plan_completion,
    render_plan,
    render_solution,
    solution_completion,
)
from harness.corpus.arithmetic.gsm8k import GSM8KSource, parse_gsm8k_steps, strip_annotations
from harness.corpus.arithmetic.problems import LEVELS, Problem, Step, evaluate_steps, generate_problem
from harness.corpus.base import CorpusSource, Document, SourceParams, corpus_sources

__all__ = [
    "ANSWER_MARKER",
    "LEVELS",
    "PLAN_HEADER",
    "PROMPT",
    "SOLUTION_HEADER",
    "ArithmeticSource",
    "GSM8KSource",
    "Parsed",
    "Problem",
    "Step",
    "evaluate_steps",
    "format_prompt",
    "generate_problem",
    "math_document",
    "parse_completion",
    "parse_gsm8k_steps",
    "plan_completion",
    "render_plan",
    "render_solution",
    "solution_completion",
    "strip_annotations",
]


def math_document(
    doc_id: str,
    question: str,
    plan: list[str],
    execution: list[str],
    answer: str,
    level: int,
    solution: str | None = None,
    **extra: object,
) -> Document:
    """The document shape every math source produces (``text`` = prompt + plan-tuned completion)."""
    meta = {
        "question": question,
        "answer": answer,
        "solution": solution if solution is not None else render_solution(execution, answer),
        "plan": list(plan),
        "execution": list(execution),
        "level": int(level),
        **extra,
    }
    return Document(
        id=doc_id, text=format_prompt(question) + plan_completion(plan, execution, answer), meta=meta
    )


@corpus_sources.register("arithmetic")
class ArithmeticSource(CorpusSource):
    """Seeded arithmetic word problems whose plans, worked steps and answers are known exactly."""

    version = "1"

    class Params(SourceParams):
        n_problems: int = Field(6000, ge=1, le=10_000_000)
        levels: list[int] = Field(
            [1, 2, 3], min_length=1, description="levels drawn, cycled by problem index"
        )
        seed_offset: int = Field(0, description="added to the corpus seed: other problems")

        @field_validator("levels")
        @classmethod
        def _known(cls, levels: list[int]) -> list[int]:
            bad = [lv for lv in levels if lv not in LEVELS]
            if bad:
                raise ValueError(f"unknown level {bad[0]} (valid: {', '.join(map(str, LEVELS))})")
            return levels

    params: Params

    def load(self, seed: int) -> dict[str, list[Document]]:
        p = self.params
        docs = []
        for i in range(p.n_problems):
            rng = random.Random(f"planeval-arithmetic:{seed}:{p.seed_offset}:{i}")
            problem = generate_problem(rng, p.levels[i % len(p.levels)])
            docs.append(
                math_document(
                    f"arith-{i:06d}",
                    problem.question,
                    problem.plan,
                    problem.execution,
                    problem.answer,
                    problem.level,
                )
            )
        return {"all": docs}
