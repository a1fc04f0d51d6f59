"""planeval's action edit distance as an ``evaluate`` module: the unit-cost Levenshtein distance between
the writing-action sequences of a generated and a true continuation (paper A).

The distance is ``tasks.action_edit.levenshtein`` and the means are ``tasks.action_edit.ActionEdit``'s
``aggregate``, so the numbers are the leaderboard's for the same tagged actions. Tagging texts with
actions needs the suite's tagger; this module takes the action ids already tagged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import datasets
import evaluate
import pandas as pd

from tasks.action_edit import ActionEdit, ActionEditParams, levenshtein

_DESCRIPTION = """planeval action edit distance: per pair, the Levenshtein distance (unit costs) between the
action-id sequence of a generated continuation and that of the true one; ``edit`` is its mean. With
each pair's continuation length L in tokens, also ``edit_norm`` (the distance x norm_tokens / L, paper
A's normalisation: raw at 128 tokens, halved at 256, ...) and both per length (``edit@L``)."""

_KWARGS_DESCRIPTION = """
Args:
    predictions: per pair, the action ids of the generated continuation's sentences.
    references: per pair, the action ids of the true continuation's sentences.
    lengths: optional, per pair, the continuations' length in tokens (for edit_norm and per-length means).
    norm_tokens: the normalising length (default 128).
    return_samples: also return each pair's distances under "samples".
Returns:
    edit (and edit_norm, edit@L, edit_norm@L with lengths; per-pair distances as asked).
Examples:
    >>> metric = evaluate.load(tasks.evaluate_metrics.path("action_edit_distance"))
    >>> metric.compute(predictions=[[1, 2, 3]], references=[[1, 3]])["edit"]
    1.0
"""

_CITATION = "planeval, tasks/action_edit.py (docs/tasks/action_edit.md)"


class PlanevalActionEditDistance(evaluate.Metric):
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
        lengths: Sequence[int] | None = None,
        norm_tokens: int = 128,
        return_samples: bool = False,
    ) -> dict[str, Any]:
        if lengths is not None and len(lengths) != len(predictions):
            raise ValueError(f"{len(lengths)} lengths for {len(predictions)} pairs")
        by_pair = [norm_tokens] * len(predictions) if lengths is None else [int(n) for n in lengths]
        params = ActionEditParams(lengths=tuple(sorted(set(by_pair))) or (1,), norm_tokens=norm_tokens)
        rows = []
        for gen, ref, n in zip(predictions, references, by_pair, strict=True):
            raw = levenshtein(gen, ref)
            rows.append({"length": n, "edit": raw, "edit_norm": raw * params.norm_tokens / n})  # as the task
        task = ActionEdit()
        values = task.aggregate(pd.DataFrame(rows, columns=["length", "edit", "edit_norm"]), params)
        keys = task.metric_keys(values)
        keep = {"edit"} if lengths is None else {"edit", "edit_norm"}
        out: dict[str, Any] = {
            name: value
            for name, value in values.items()
            if keys[name].base in keep and (lengths is not None or not keys[name].dims)
        }
        if return_samples:
            out["samples"] = (
                [{"edit": r["edit"], "edit_norm": r["edit_norm"]} for r in rows]
                if lengths
                else [{"edit": r["edit"]} for r in rows]
            )
        return out
