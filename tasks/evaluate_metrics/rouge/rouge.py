"""planeval's ROUGE as an ``evaluate`` module, in both implementations: Google's ``rouge_score``
(``implementation="rouge-score"``, rougeLsum over spaCy sentences) or pltrdy's ``rouge`` semantics
(``implementation="pltrdy"``, paper A's numbers).

Per-pair F1 comes from ``harness.text.rouge.score_rouge`` and the means from ``tasks.rouge.Rouge``'s
``aggregate``, with the task's params validating the options, so the numbers are the leaderboard's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import datasets
import evaluate
import pandas as pd

from harness.text import rouge_pltrdy
from harness.text.rouge import ROUGE_TYPES, score_rouge, spacy_split
from tasks.rouge import Rouge, RougeParams

_DESCRIPTION = """planeval ROUGE F1 (mean over pairs), as the ``rouge`` task scores generated against true
continuations. ``implementation``: ``rouge-score`` (Google's ROUGE-1.5.5 re-implementation; rougeLsum
over one spaCy sentence per line) or ``pltrdy`` (pltrdy's ``rouge`` package: "."-split sentences,
case-sensitive words, n-gram sets, summary-level rouge-l; rouge1/rouge2/rougeL only, no stemmer). Numbers
from the two implementations do not compare."""

_KWARGS_DESCRIPTION = """
Args:
    predictions: generated texts.
    references: one reference text per prediction.
    rouge_types: default all four (rouge-score) or rouge1/rouge2/rougeL (pltrdy).
    use_stemmer: Porter stemming (rouge-score only), default False.
    implementation: "rouge-score" (default) or "pltrdy".
    lengths: optional, per pair, its continuation length in tokens: adds ``<type>@<length>`` means.
    return_samples: also return the per-pair F1 scores under "samples".
Returns:
    {rouge type: mean F1} (and per-length means, per-pair scores as asked).
Examples:
    >>> metric = evaluate.load(tasks.evaluate_metrics.path("rouge"))
    >>> metric.compute(predictions=["the cat sat"], references=["the cat sat"], implementation="pltrdy")
"""

_CITATION = """Lin, C.-Y. (2004). ROUGE: A Package for Automatic Evaluation of Summaries.
planeval, harness/text/rouge.py and harness/text/rouge_pltrdy.py (docs/tasks/rouge.md)"""


class PlanevalRouge(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            module_type="metric",
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
            reference_urls=["https://github.com/google-research/google-research/tree/master/rouge"],
        )

    def _compute(
        self,
        predictions: Sequence[str],
        references: Sequence[str],
        rouge_types: Sequence[str] | None = None,
        use_stemmer: bool = False,
        implementation: str = "rouge-score",
        lengths: Sequence[int] | None = None,
        return_samples: bool = False,
    ) -> dict[str, Any]:
        if rouge_types is None:
            rouge_types = tuple(rouge_pltrdy.TYPES) if implementation == "pltrdy" else ROUGE_TYPES
        if lengths is not None and len(lengths) != len(predictions):
            raise ValueError(f"{len(lengths)} lengths for {len(predictions)} pairs")
        by_pair = [1] * len(predictions) if lengths is None else [int(n) for n in lengths]
        params = RougeParams(
            rouge_types=tuple(rouge_types),
            use_stemmer=use_stemmer,
            implementation=implementation,
            lengths=tuple(sorted(set(by_pair))) or (1,),
        )
        scores = score_rouge(
            predictions,
            references,
            rouge_types=params.rouge_types,
            use_stemmer=params.use_stemmer,
            implementation=params.implementation,
            split=spacy_split,  # as the task: rougeLsum reads one sentence per line, split by spaCy
        )
        samples = pd.DataFrame(scores, columns=list(params.rouge_types)).assign(length=by_pair)
        task = Rouge()
        values = task.aggregate(samples, params)
        keys = task.metric_keys(values)
        out: dict[str, Any] = {
            name: value for name, value in values.items() if lengths is not None or not keys[name].dims
        }
        if return_samples:
            out["samples"] = scores
        return out
