"""planeval's GSM8K accuracy as an ``evaluate`` module: our extractor (``acc``) next to lm-eval's
``strict-match`` and ``flexible-extract`` and the last ``\\boxed{}``, on the same outputs.

Each output is scored by ``tasks.gsm8k.score_gsm8k`` and the accuracies are ``tasks.gsm8k.GSM8K``'s
``aggregate``, so the numbers are the leaderboard's (docs/tasks/math.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import datasets
import evaluate
import pandas as pd

from harness.text.answers.numbers import gsm8k_gold
from tasks.gsm8k import GSM8K, score_gsm8k
from tasks.math_common import MathTaskParams

_DESCRIPTION = """planeval GSM8K accuracy with four answer extractors side by side: ``acc`` (ours: the
answer stated last, read as a number, compared by value), ``acc_strict`` (lm-eval's strict-match: the
number after the first "#### "), ``acc_flexible`` (lm-eval's flexible-extract: the last number-like run)
and ``acc_boxed`` (the last \\boxed{} by value). lm-eval's two are scored with lm-eval's gsm8k
exact_match (",", "$" and a trailing "." ignored)."""

_KWARGS_DESCRIPTION = """
Args:
    predictions: the model's outputs (its full answer text).
    references: the gold answers: the number ("2,125") or a GSM8K ``answer`` field ending in
        "#### <number>", read as the task reads its rows (``harness.text.answers.numbers.gsm8k_gold``).
    levels: optional, per problem, its difficulty level: adds ``acc@level<k>``.
    return_samples: also return each output's extracted answers and 0/1 correctness under "samples".
Returns:
    acc, acc_strict, acc_flexible, acc_boxed (and per-level accuracies, per-sample scores as asked).
Examples:
    >>> metric = evaluate.load(tasks.evaluate_metrics.path("gsm8k_accuracy"))
    >>> metric.compute(predictions=["3 + 4 = 7\\n#### 7"], references=["7"])["acc_strict"]
    1.0
"""

_CITATION = """Cobbe et al. (2021). Training Verifiers to Solve Math Word Problems.
planeval, tasks/gsm8k.py and harness/text/answers/numbers.py (docs/tasks/math.md)"""


class PlanevalGSM8KAccuracy(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            module_type="metric",
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
            reference_urls=["https://github.com/openai/grade-school-math"],
        )

    def _compute(
        self,
        predictions: Sequence[str],
        references: Sequence[str],
        levels: Sequence[str | int | None] | None = None,
        return_samples: bool = False,
    ) -> dict[str, Any]:
        if levels is not None and len(levels) != len(predictions):
            raise ValueError(f"{len(levels)} levels for {len(predictions)} problems")
        golds = [gsm8k_gold(ref) for ref in references]
        scores = [
            score_gsm8k(out, gold, str(n))
            for n, (out, gold) in enumerate(zip(predictions, golds, strict=True))
        ]
        samples = pd.DataFrame(scores)
        if levels is not None:
            samples["level"] = [None if x is None else str(x) for x in levels]
        out: dict[str, Any] = dict(GSM8K().aggregate(samples, MathTaskParams()))
        if return_samples:
            out["samples"] = scores
        return out
