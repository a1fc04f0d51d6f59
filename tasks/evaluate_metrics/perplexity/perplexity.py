"""planeval's perplexity as an ``evaluate`` module: micro-averaged over tokens from per-token log-probs.

The per-document sums and the aggregate are those of ``tasks.perplexity.Perplexity`` (its ``evaluate``
table and its ``aggregate``), so the numbers are the leaderboard's for the same log-probs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import datasets
import evaluate
import numpy as np
import pandas as pd

from tasks.perplexity import Perplexity, PerplexityParams

_DESCRIPTION = """planeval perplexity: exp(sum NLL / sum tokens) over all scored tokens of all documents
(micro-averaged, not a mean of per-document perplexities), the mean NLL per token, and bits per UTF-8
byte when the documents' texts are given. Input: each document's per-token natural-log probabilities,
as a model's scoring returns them (planeval's ``PlanevalLM.token_logprobs``)."""

_KWARGS_DESCRIPTION = """
Args:
    predictions: per document, the log-probability (natural log) of each scored token.
    texts: optional, per document, its text (for bits_per_byte: sum NLL / sum UTF-8 bytes / ln 2).
Returns:
    perplexity, nll_per_token, and bits_per_byte when ``texts`` are given.
Examples:
    >>> metric = evaluate.load(tasks.evaluate_metrics.path("perplexity"))
    >>> metric.compute(predictions=[[-1.0, -2.0]], texts=["ab"])["nll_per_token"]
    1.5
"""

_CITATION = "planeval, tasks/perplexity.py (docs/tasks/perplexity.md)"


class PlanevalPerplexity(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            module_type="metric",
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Sequence(datasets.Value("float64"))}),
        )

    def _compute(
        self, predictions: Sequence[Sequence[float]], texts: Sequence[str] | None = None
    ) -> dict[str, float]:
        if texts is not None and len(texts) != len(predictions):
            raise ValueError(f"{len(texts)} texts for {len(predictions)} documents")
        samples = pd.DataFrame(
            {
                "sample_id": [str(i) for i in range(len(predictions))],
                "n_tokens": np.array([len(lp) for lp in predictions], dtype=np.int64),
                "nll": np.array([-float(np.sum(np.asarray(lp, dtype=np.float64))) for lp in predictions]),
                "n_bytes": np.array(
                    [len(t.encode("utf-8")) for t in texts] if texts is not None else [0] * len(predictions),
                    dtype=np.int64,
                ),
            }
        )
        out = dict(Perplexity().aggregate(samples, PerplexityParams()))
        if texts is None or math.isnan(out["bits_per_byte"]):
            out.pop("bits_per_byte")
        return out
