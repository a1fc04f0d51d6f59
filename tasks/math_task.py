"""MATH accuracy, with the answer extractors reported side by side. Registers ``math`` (the module is
not named ``math.py``, which would shadow the standard library). Definitions: docs/tasks/math.md.

``protocol``: ``planeval`` (the default) or ``lm-eval-hendrycks-math`` / ``lm-eval-minerva-math`` (the
installed lm-eval's task reproduced exactly, ``tasks.lm_eval_protocols``; its scores are the columns
``correct_lm_eval*`` and the metrics ``acc_lm_eval*``, next to ours on the same outputs).

Gold: the last ``\\boxed{}`` of the reference solution (brace-matched), or the row's ``answer``.
Per sample the raw output, the gold, and for each extractor the extracted answer and 0/1 correctness:

* ``hendrycks`` — the MATH reference protocol: last ``\\boxed{}`` + Hendrycks' ``is_equiv`` (string
  equality after ``strip_string``). Reference-compatible: compare this with published MATH numbers.
* ``boxed``, ``minerva`` ("Final Answer: The final answer is X. I hope it is correct."), ``hash``
  (after the last ``#### ``, the format planeval's trainers teach) — each judged by the full check of
  ``harness.text.answers.equivalence``: reference string check, our normalisation, exact numeric value, then
  math-verify in worker processes with a time limit (``symbolic_timeout_s``); the problem text tells
  whether a bare ``70,110`` is a list.
* ``best`` (metric ``acc``) — the answer stated last by any extractor, same full check; ``acc_string``
  is the same answers without the symbolic step, to show what sympy adds.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, ClassVar

import pandas as pd
from pydantic import Field

from harness.text.answers.equivalence import MathEquivalence, asks_for_list, string_verdict
from harness.text.answers.hendrycks import is_equiv
from harness.text.answers.math_answers import EXTRACTORS, best_of, extract_all
from tasks.base import LEVEL, TASKS, MetricInfo
from tasks.math_common import MathGenerationTask, MathItem, MathTaskParams, accuracies, by_level

#: each metric is the mean of a 0/1 per-sample column
METRIC_COLUMNS = {"acc": "correct"} | {
    f"acc_{x}": f"correct_{x}" for x in ("hendrycks", *EXTRACTORS, "string")
}
#: worker processes for the symbolic checks (not a Param: it changes speed, never results)
WORKERS_ENV = "PLANEVAL_VERIFY_WORKERS"


class MathParams(MathTaskParams):
    family: ClassVar[str] = "math"

    symbolic: bool = True
    symbolic_timeout_s: float = Field(5.0, gt=0, le=120)


def verify_workers() -> int:
    value = os.environ.get(WORKERS_ENV, "")
    return int(value) if value.isdigit() and int(value) > 0 else min(2, os.cpu_count() or 1)


def score_math(
    items: Sequence[MathItem], outputs: Sequence[str], judge: MathEquivalence
) -> list[dict[str, Any]]:
    """Extracted answers and 0/1 correctness per extractor for each output; symbolic checks of all
    outputs go to the worker pool in one batch."""
    rows: list[dict[str, Any]] = []
    pairs: list[tuple[str | None, str]] = []
    for item, out in zip(items, outputs, strict=True):
        found = extract_all(out)
        preds = {name: (hit[1] if hit else None) for name, hit in found.items()}
        best, kind = best_of(found)
        preds["best"] = best
        row: dict[str, Any] = {f"pred_{name}": (p or "") for name, p in preds.items() if name != "best"}
        row.update(pred=best or "", pred_from=kind)
        row["correct_hendrycks"] = int(preds["boxed"] is not None and is_equiv(preds["boxed"], item.gold))
        string, _ = string_verdict(best, item.gold, asks_for_list(item.question)) if best else (None, False)
        row["correct_string"] = int(bool(string and string.correct))
        rows.append(row)
        pairs.extend((preds[name], item.gold) for name in (*EXTRACTORS, "best"))
    problems = [item.question for item in items for _ in (*EXTRACTORS, "best")]
    verdicts = iter(judge.judge(pairs, problems))
    for row in rows:
        for name in (*EXTRACTORS, "best"):
            v = next(verdicts)
            row["correct" if name == "best" else f"correct_{name}"] = int(v.correct)
            if name == "best":
                row["equiv"] = v.how
    return rows


@TASKS.register("math")
class Math(MathGenerationTask):
    """MATH-style problems: boxed / Minerva / #### answers, reference and symbolic equivalence."""

    Params = MathParams
    #: how answers are judged, read by the per-sample function alone: re-scorable without the model
    sample_params = ("symbolic", "symbolic_timeout_s")
    #: 2: mixed numbers, row breaks, thousands separators, shapes and words judged right (docs/tasks/math.md)
    version = "2"
    metrics = {
        "acc_lm_eval": MetricInfo(True, "accuracy, lm-eval's own exact_match (lm-eval protocols only)"),
        "acc_lm_eval_math_verify": MetricInfo(True, "accuracy, lm-eval minerva_math's math_verify"),
        "acc": MetricInfo(
            True,
            "accuracy, last stated answer, string/numeric/symbolic equivalence (ours; per level)",
            dims=(LEVEL,),
        ),
        "acc_hendrycks": MetricInfo(True, "accuracy, last \\boxed{} + Hendrycks is_equiv (reference)"),
        "acc_boxed": MetricInfo(True, "accuracy, last \\boxed{}, full equivalence"),
        "acc_minerva": MetricInfo(True, "accuracy, Minerva 'Final Answer' form, full equivalence"),
        "acc_hash": MetricInfo(True, "accuracy, last '#### ' answer, full equivalence"),
        "acc_string": MetricInfo(True, "accuracy, last stated answer, string/numeric checks only"),
    }

    def lm_eval_doc(self, item: MathItem) -> dict[str, Any]:
        row = item.row or {}
        if "problem" in row and "solution" in row:
            return dict(row)
        solution = item.solution or ""
        if "\\boxed" not in solution:  # lm-eval reads the gold from the solution's last box
            solution = f"{solution}\n$\\boxed{{{item.gold}}}$".lstrip()
        return {"problem": item.question, "solution": solution}

    def score(self, items: Sequence[MathItem], outputs: Sequence[str], params: Any) -> list[dict[str, Any]]:
        judge = MathEquivalence(
            symbolic=params.symbolic, timeout_s=params.symbolic_timeout_s, workers=verify_workers()
        )
        return score_math(items, outputs, judge)

    def aggregate(self, samples: pd.DataFrame, params: Any) -> dict[str, float]:
        out = accuracies(samples, METRIC_COLUMNS, self.metrics)
        by_level(out, samples, "correct", "acc")
        return out
