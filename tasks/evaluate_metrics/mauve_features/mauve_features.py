"""planeval's MAUVE on precomputed features as an ``evaluate`` module: real texts' features (P, the
references) against generated texts' features (Q, the predictions), averaged over k-means seeds.

The quantization is ``tasks.mauve.quantize`` (mauve-text's ``cluster_feats``, step for step) once per
k-means seed, and the metrics are ``tasks.mauve.Mauve``'s ``aggregate`` over those labels, with the
task's params validating the options, so the numbers are the leaderboard's for the same features.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import datasets
import evaluate
import numpy as np
import pandas as pd

from tasks.mauve import Mauve, MauveParams, add_buckets

_DESCRIPTION = """planeval MAUVE between two sets of text features: mauve-text's quantization (l2-normalise,
PCA to explained_variance, faiss k-means), repeated for k-means seeds seed, seed+1, ... (``kmeans_seeds``),
and each metric averaged over them: ``mauve``, ``mauve_star`` (smoothed histograms), ``frontier_integral``
(and ``_star``), and ``mauve_seed_sd`` (MAUVE's spread over the seeds: the quantization noise). With one
seed it is mauve-text's ``compute_mauve`` on the same features and seed. Features are float32 (as
planeval's featurizers write them); values from different featurizers do not compare."""

_KWARGS_DESCRIPTION = """
Args:
    predictions: per generated text, its feature vector (Q).
    references: per real text, its feature vector (P); evaluate pairs them row by row, so as many
        real texts as generated ones (as the task draws them).
    seed: the first k-means seed (planeval: the run's seed; default 0).
    kmeans_seeds: quantizations averaged (default 5).
    num_buckets, pca_max_data, kmeans_explained_var, kmeans_num_redo, kmeans_max_iter,
    divergence_curve_discretization_size, mauve_scaling_factor: compute_mauve's knobs, its defaults.
Returns:
    mauve, mauve_star, frontier_integral, frontier_integral_star, mauve_seed_sd.
"""

_CITATION = """Pillutla et al. (2021). MAUVE: Measuring the Gap Between Neural Text and Human Text.
planeval, tasks/mauve.py (docs/tasks/mauve.md)"""


class PlanevalMauveFeatures(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            module_type="metric",
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("float32")),
                    "references": datasets.Sequence(datasets.Value("float32")),
                }
            ),
            reference_urls=["https://github.com/krishnap25/mauve"],
        )

    def _compute(
        self,
        predictions: Sequence[Sequence[float]],
        references: Sequence[Sequence[float]],
        seed: int = 0,
        **knobs: Any,
    ) -> dict[str, float]:
        params = MauveParams(n_samples=max(2, len(predictions)), **knobs)
        q = np.asarray(predictions, dtype=np.float32)
        p = np.asarray(references, dtype=np.float32)
        table = pd.DataFrame({"side": ["real"] * len(p) + ["generated"] * len(q)})
        add_buckets(table, p, q, params, seed)
        return Mauve().aggregate(table, params)
