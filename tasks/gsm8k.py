"""GSM8K accuracy, with the answer extractors reported side by side. Definitions: docs/tasks/math.md.

``protocol``: ``planeval`` (the default: planeval's prompt and few-shot draw,
``harness.text.math_prompts``) or
``lm-eval-gsm8k`` / ``lm-eval-gsm8k-cot`` (the installed lm-eval's task, reproduced exactly:
``tasks.lm_eval_protocols``). Per sample the raw output, the gold, and for each extractor the extracted
answer and 0/1 correctness:

* ``strict`` — lm-eval's ``strict-match``: the number after the FIRST ``#### ``, scored with lm-eval's
  gsm8k ``exact_match`` (``,`` ``$`` trailing ``.`` ignored, case folded). Under an lm-eval protocol it is
  lm-eval's own filter and metric (gsm8k-cot's strict filter reads "The answer is"), and
  ``acc_strict`` is the number published lm-eval GSM8K scores report; under ``planeval`` it is the same
  filter on planeval's prompt, which no published number uses.
* ``flexible`` — lm-eval's ``flexible-extract`` (the last number-like run), same scoring.
* ``boxed`` — the value in the last ``\\boxed{}``, compared by value.
* ``best`` (metric ``acc``) — ours: the answer stated last (``####``, ``\\boxed{}``, "answer is"),
  read as a number (``18.00``, ``.5``, ``14 000``, ``- 10``, ``$``/units/trailing punctuation), compared
  by value; the last number in the text when no answer is stated. See ``harness.text.answers.numbers``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from harness.errors import PlanevalError
from harness.text.answers.numbers import (
    extract_best,
    extract_boxed_number,
    extract_flexible,
    extract_strict,
    format_number,
    lm_eval_exact_match,
    parse_number,
)
from harness.text.math_prompts import solution_with_answer
from tasks.base import LEVEL, TASKS, MetricInfo
from tasks.lm_eval_protocols import GSM8K_FILTERS, PLANEVAL
from tasks.math_common import MathGenerationTask, MathItem, MathTaskParams, accuracies, by_level

EXTRACTORS = ("strict", "flexible", "boxed", "best")
#: each metric is the mean of a 0/1 per-sample column
METRIC_COLUMNS = {"acc": "correct"} | {f"acc_{x}": f"correct_{x}" for x in ("strict", "flexible", "boxed")}


def score_gsm8k(output: str, gold: str, sample_id: str = "?") -> dict[str, Any]:
    """The extractors' answers and 0/1 correctness of one output against a gold answer string."""
    gold_value = parse_number(gold)
    if gold_value is None:
        raise PlanevalError(f"gsm8k: sample {sample_id!r}: gold answer {gold!r} is not a number")
    strict, flexible = extract_strict(output), extract_flexible(output)
    boxed = extract_boxed_number(output)
    best, kind = extract_best(output)
    return {
        "gold_value": format_number(gold_value),
        "pred_strict": strict,
        "correct_strict": int(lm_eval_exact_match(strict, gold)),
        "pred_flexible": flexible,
        "correct_flexible": int(lm_eval_exact_match(flexible, gold)),
        "pred_boxed": format_number(boxed),
        "correct_boxed": int(boxed is not None and boxed == gold_value),
        "pred": format_number(best),
        "pred_from": kind,
        "correct": int(best is not None and best == gold_value),
    }


@TASKS.register("gsm8k")
class GSM8K(MathGenerationTask):
    """GSM8K-style word problems: exact numeric answer, lm-eval's extractors next to ours."""

    Params = MathTaskParams
    #: 2: fractions before a full stop (``3/4.``), mixed numbers and LaTeX thousands separators read right
    version = "2"
    metrics = {
        "acc": MetricInfo(
            True, "accuracy, last stated answer read as a number (ours; per level)", dims=(LEVEL,)
        ),
        "acc_strict": MetricInfo(True, "accuracy, lm-eval strict-match (lm-eval's own under its protocols)"),
        "acc_flexible": MetricInfo(True, "accuracy, lm-eval flexible-extract (last number-like run)"),
        "acc_boxed": MetricInfo(True, "accuracy, last \\boxed{} by value"),
    }

    def lm_eval_doc(self, item: MathItem) -> dict[str, Any]:
        row = item.row or {}
        if "question" in row and "answer" in row:
            return dict(row)
        return {"question": item.question, "answer": solution_with_answer(item.solution or "", item.gold)}

    def lm_eval_key(self, metric: str, filter_name: str) -> str:
        if metric == "exact_match" and filter_name in GSM8K_FILTERS:
            return GSM8K_FILTERS[filter_name]
        return super().lm_eval_key(metric, filter_name)

    def lm_eval_columns(self, columns: Iterable[str], params: Any) -> list[str]:
        """Under an lm-eval protocol ``strict``/``flexible`` are lm-eval's own filters (GSM8K_FILTERS)."""
        own = super().lm_eval_columns(columns, params)
        if params.protocol == PLANEVAL:
            return own
        names = {f"{kind}_{key}" for key in GSM8K_FILTERS.values() for kind in ("correct", "pred")}
        return own + [c for c in columns if c in names]

    def score(self, items: Sequence[MathItem], outputs: Sequence[str], params: Any) -> list[dict[str, Any]]:
        return [score_gsm8k(out, item.gold, item.sample_id) for item, out in zip(items, outputs, strict=True)]

    def aggregate(self, samples: pd.DataFrame, params: Any) -> dict[str, float]:
        out = accuracies(samples, METRIC_COLUMNS, self.metrics)
        by_level(out, samples, "correct", "acc")
        return out
