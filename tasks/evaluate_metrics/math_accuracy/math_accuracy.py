"""planeval's MATH accuracy as an ``evaluate`` module: the reference protocol (last ``\\boxed{}`` +
Hendrycks' ``is_equiv``, ``acc_hendrycks``) next to our extractors judged by full equivalence (string,
numeric, then math-verify with a time limit), on the same outputs.

Outputs are scored by ``tasks.math_task.Math.score`` (``score_math`` with the task's judge) and the
accuracies are ``tasks.math_task.Math``'s ``aggregate``, so the numbers are the leaderboard's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import datasets
import evaluate
import pandas as pd

from tasks.math_common import MathItem
from tasks.math_task import Math, MathParams

_DESCRIPTION = """planeval MATH accuracy with the answer extractors side by side: ``acc_hendrycks`` (the
MATH reference: last \\boxed{} + Hendrycks' is_equiv; compare this with published MATH numbers),
``acc_boxed``, ``acc_minerva`` ("The final answer is X"), ``acc_hash`` (after the last "#### ") and
``acc`` (the answer stated last by any of them), each judged by planeval's full equivalence check, and
``acc_string`` (the same answers without the symbolic step)."""

_KWARGS_DESCRIPTION = """
Args:
    predictions: the model's outputs (its full solution text).
    references: the gold answers as written in the data ("\\frac{1}{2}", "70,110").
    questions: optional, per problem, its text (tells whether a bare "70,110" is a list).
    levels: optional, per problem, its difficulty level: adds ``acc@level<k>``.
    symbolic: the math-verify step (default True), in worker processes...
    symbolic_timeout_s: ...each check limited to this many seconds (default 5).
    return_samples: also return each output's extracted answers and 0/1 correctness under "samples".
Returns:
    acc, acc_hendrycks, acc_boxed, acc_minerva, acc_hash, acc_string (and per level, per sample).
Examples:
    >>> metric = evaluate.load(tasks.evaluate_metrics.path("math_accuracy"))
    >>> metric.compute(predictions=["so $\\boxed{\\frac12}$"], references=["\\frac{1}{2}"])["acc"]
    1.0
"""

_CITATION = """Hendrycks et al. (2021). Measuring Mathematical Problem Solving With the MATH Dataset.
planeval, tasks/math_task.py and harness/text/answers/ (docs/tasks/math.md)"""


class PlanevalMathAccuracy(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            module_type="metric",
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
            reference_urls=["https://github.com/hendrycks/math"],
        )

    def _compute(
        self,
        predictions: Sequence[str],
        references: Sequence[str],
        questions: Sequence[str] | None = None,
        levels: Sequence[str | int | None] | None = None,
        symbolic: bool = True,
        symbolic_timeout_s: float = 5.0,
        return_samples: bool = False,
    ) -> dict[str, Any]:
        n = len(predictions)
        for name, given in (("questions", questions), ("levels", levels)):
            if given is not None and len(given) != n:
                raise ValueError(f"{len(given)} {name} for {n} problems")
        params = MathParams(symbolic=symbolic, symbolic_timeout_s=symbolic_timeout_s)
        items = [
            MathItem(
                str(i),
                "" if questions is None else str(questions[i]),
                str(references[i]).strip(),
                level=None if levels is None or levels[i] is None else str(levels[i]),
            )
            for i in range(n)
        ]
        task = Math()
        scores = task.score(items, list(predictions), params)
        samples = pd.DataFrame(scores).assign(level=[item.level for item in items])
        out: dict[str, Any] = dict(task.aggregate(samples, params))
        if return_samples:
            out["samples"] = scores
        return out
