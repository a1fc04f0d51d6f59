"""MAUVE between real held-out texts (P) and the model's unconditional samples (Q) (docs/tasks/mauve.md;
paper A: 1024-token samples vs real articles, ``max_text_length=256``).

mauve-text's ``compute_mauve`` quantizes the features of both sides together (l2-normalise, PCA to 90%
of the variance, faiss k-means with ``num_buckets`` clusters, seeded), then measures the divergence
frontier between the two cluster histograms. ``evaluate`` runs that quantization exactly as
``mauve.compute_mauve.cluster_feats`` does, once per k-means seed (``kmeans_seeds``: seed, seed+1, …),
and keeps each text's cluster under every quantization in its sample row; ``aggregate`` turns the
clusters into histograms, calls mauve-text's own divergence-curve and frontier-integral functions and
averages over the quantizations. On the full table that is the mean of ``compute_mauve`` over those
seeds on the same features (with one seed, ``compute_mauve`` itself: tested to equality). On a
bootstrap resample it re-measures the histograms with the quantizations held fixed, so the interval is
cheap and reflects which texts were drawn; averaging quantizations is what tames the k-means noise,
large with few texts (``mauve_seed_sd`` reports it). Real and generated texts are paired by
``sample_id`` (row i of each), so a resample keeps the two sides balanced.

The featurizer (``tasks.featurizers``) is a param and its identity is stored in every row: MAUVE values
from different featurizers do not compare.
"""

from __future__ import annotations

import logging
import math
import random
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from harness.actions import DEFAULT_ENCODER
from harness.adapters import PlanevalLM, generation_needs
from tasks.base import TASKS, MetricInfo, Task, TaskContext
from tasks.featurizers import features, get_featurizer
from tasks.generation import UnconditionalParams, generations

log = logging.getLogger(__name__)


class MauveParams(UnconditionalParams):
    n_samples: int = Field(1000, ge=2, description="generated samples and real texts (paper: 5000)")
    max_new_tokens: int = Field(1024, ge=1, description="tokens per generated sample (paper: 1024)")
    split: Literal["val", "test"] = "test"
    featurizer: str = DEFAULT_ENCODER
    max_text_length: int = Field(256, ge=1, description="featurizer tokens per text (paper: 256)")
    # compute_mauve's own knobs, with its defaults
    num_buckets: int | Literal["auto"] = "auto"
    pca_max_data: int = -1
    kmeans_explained_var: float = Field(0.9, gt=0, lt=1)
    kmeans_num_redo: int = Field(5, ge=1)
    kmeans_max_iter: int = Field(500, ge=1)
    divergence_curve_discretization_size: int = Field(25, ge=2)
    mauve_scaling_factor: float = Field(5.0, gt=0)
    #: quantizations averaged (k-means seeds seed, seed+1, …): with few texts one quantization is a noisy
    #: draw (50 vs 50 texts: MAUVE 0.03-0.54 over 8 seeds for one model), which a bootstrap of texts
    #: given a fixed quantization does not see
    kmeans_seeds: int = Field(5, ge=1)


def quantize(
    p_features: np.ndarray,
    q_features: np.ndarray,
    num_buckets: int | str = "auto",
    pca_max_data: int = -1,
    explained_variance: float = 0.9,
    num_redo: int = 5,
    max_iter: int = 500,
    seed: int = 25,
) -> tuple[np.ndarray, np.ndarray, int]:
    """(P labels, Q labels, number of buckets): the quantization of ``compute_mauve`` (its
    ``cluster_feats`` with ``norm='l2', whiten=False``), step for step, keeping the labels it discards.

    faiss's k-means runs on one OpenMP thread: at MAUVE's sizes (≤ 10k points, ≤ 1k clusters) that costs
    little, the labels do not depend on the machine's thread count, and on a busy CPU OpenMP's spinning
    threads made the same k-means ~100× slower (5.5 s vs 0.05 s for 600 points under load 10 on 2 cores).
    """
    import faiss
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import normalize

    if num_buckets == "auto":
        num_buckets = max(2, round(min(len(p_features), len(q_features)) / 10))
    k = int(num_buckets)
    data = normalize(np.vstack([q_features, p_features]), norm="l2", axis=1)
    pca = PCA(n_components=None, whiten=False, random_state=seed + 1)
    if pca_max_data < 0 or pca_max_data >= data.shape[0]:
        pca.fit(data)
    elif 0 < pca_max_data < data.shape[0]:
        rng = np.random.RandomState(seed + 5)
        pca.fit(data[rng.choice(data.shape[0], size=pca_max_data, replace=False)])
    else:
        raise ValueError(f"invalid pca_max_data={pca_max_data} with {data.shape[0]} data points")
    idx = int(np.argmax(np.cumsum(pca.explained_variance_ratio_) >= explained_variance))
    reduced = pca.transform(data)[:, : idx + 1].astype(np.float32)
    kmeans = faiss.Kmeans(
        reduced.shape[1], k, niter=max_iter, verbose=False, nredo=num_redo, update_index=True, seed=seed + 2
    )
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)  # see quantize's docstring
    try:
        kmeans.train(reduced)
        _, labels = kmeans.index.search(reduced, 1)
    finally:
        faiss.omp_set_num_threads(threads)
    labels = labels.reshape(-1).astype(np.int64)
    return labels[len(q_features) :], labels[: len(q_features)], k


def mauve_from_labels(
    p_labels: np.ndarray,
    q_labels: np.ndarray,
    num_buckets: int,
    discretization: int = 25,
    scaling: float = 5.0,
) -> dict[str, float]:
    """MAUVE, MAUVE*, frontier integral (and FI*) from cluster labels, with mauve-text's functions —
    the second half of ``compute_mauve``."""
    from mauve.compute_mauve import get_divergence_curve_for_multinomials, get_fronter_integral
    from sklearn.metrics import auc

    p_counts = np.bincount(p_labels, minlength=num_buckets).astype(np.float64)
    q_counts = np.bincount(q_labels, minlength=num_buckets).astype(np.float64)
    weights = np.linspace(1e-6, 1 - 1e-6, discretization)
    out: dict[str, float] = {}
    for suffix, add in (("", 0.0), ("_star", 0.5)):  # MAUVE* uses Krichevsky-Trofimov smoothing
        p = (p_counts + add) / (p_counts + add).sum()
        q = (q_counts + add) / (q_counts + add).sum()
        x, y = get_divergence_curve_for_multinomials(p, q, weights, scaling).T
        i1, i2 = np.argsort(x), np.argsort(y)
        out[f"mauve{suffix}"] = float(0.5 * (auc(x[i1], y[i1]) + auc(y[i2], x[i2])))
        out[f"frontier_integral{suffix}"] = float(get_fronter_integral(p, q))
    return out


def real_texts(ctx: TaskContext, split: str, n: int) -> tuple[list[str], list[str]]:
    """(ids, texts) of up to ``n`` non-empty held-out documents in a seeded order."""
    docs = [d for d in ctx.corpus.split(split) if d.text.strip()]
    random.Random(ctx.seed).shuffle(docs)
    docs = docs[:n]
    if len(docs) < n:
        log.warning("mauve: only %d real %s documents for %d samples", len(docs), split, n)
    return [d.id for d in docs], [d.text for d in docs]


def add_buckets(table: pd.DataFrame, p: np.ndarray, q: np.ndarray, params: MauveParams, seed: int) -> None:
    """The k-means bucket of every real (``p``) and generated (``q``) feature row, once per k-means seed
    (``bucket<j>``, seed + j), and the bucket count: the columns ``aggregate`` reads, in the table whose
    rows are the real rows then the generated ones."""
    k = 0
    for j in range(params.kmeans_seeds):
        p_labels, q_labels, k = quantize(
            p,
            q,
            params.num_buckets,
            params.pca_max_data,
            params.kmeans_explained_var,
            params.kmeans_num_redo,
            params.kmeans_max_iter,
            seed=seed + j,
        )
        table[f"bucket{j}"] = np.concatenate([p_labels, q_labels])
    table["num_buckets"] = k


@TASKS.register("mauve")
class Mauve(Task):
    """MAUVE of unconditional samples against held-out real texts, on precomputed features."""

    Params = MauveParams
    limit_params = ("n_samples",)
    version = "1"
    #: read by ``aggregate`` alone (the quantizations' labels are in the table): re-scorable
    aggregate_params = ("divergence_curve_discretization_size", "mauve_scaling_factor")
    metrics = {
        "mauve": MetricInfo(True, "MAUVE (area under the divergence frontier), real vs generated"),
        "mauve_star": MetricInfo(True, "MAUVE* (Krichevsky-Trofimov-smoothed histograms)"),
        "frontier_integral": MetricInfo(False, "frontier integral (0 = same distribution)"),
        "frontier_integral_star": MetricInfo(False, "frontier integral of the smoothed histograms"),
        "mauve_seed_sd": MetricInfo(
            False, "std of MAUVE across the k-means seeds (quantization noise)", rank=False
        ),
    }

    def needs(self, params: MauveParams) -> frozenset[str]:
        return generation_needs(params.temperature, params.stop_at_eos)

    def evaluate(self, model: PlanevalLM, ctx: TaskContext) -> pd.DataFrame:
        params: MauveParams = ctx.params
        protocol = params.protocol(ctx.seed)
        gens = generations(model, ctx).unconditional(protocol)
        gens = gens[gens["text"].str.strip() != ""]
        if len(gens) < protocol.n_samples:
            log.warning("mauve: %d empty samples left out", protocol.n_samples - len(gens))
        real_ids, real = real_texts(ctx, params.split, params.n_samples)
        if len(real) < 2 or len(gens) < 2:
            raise ValueError(
                f"mauve needs ≥ 2 texts per side, got {len(real)} real and {len(gens)} generated"
            )
        featurizer = get_featurizer(params.featurizer)
        p = features(featurizer, real, params.max_text_length, ctx.cache, ctx.progress)
        q = features(featurizer, list(gens["text"]), params.max_text_length, ctx.cache, ctx.progress)
        np.savez_compressed(ctx.work_dir / "features.npz", real=p, generated=q)  # kept with the run
        table = pd.DataFrame(
            {
                "sample_id": [f"{i:05d}" for i in range(len(real_ids))]
                + [f"{i:05d}" for i in range(len(gens))],
                "side": ["real"] * len(real_ids) + ["generated"] * len(gens),
                "source_id": [*real_ids, *gens["sample_id"]],
            }
        )
        add_buckets(table, p, q, params, ctx.seed)
        table["featurizer"] = f"{featurizer.identity}@{params.max_text_length}"
        return table

    def aggregate(self, samples: pd.DataFrame, params: MauveParams) -> dict[str, float]:
        """Each metric averaged over the quantizations (k-means seeds); ``mauve_seed_sd`` is MAUVE's spread
        across them."""
        real, gen = samples["side"] == "real", samples["side"] == "generated"
        columns = sorted((c for c in samples.columns if c.startswith("bucket")), key=lambda c: int(c[6:]))
        if not real.any() or not gen.any() or not columns:
            return {name: math.nan for name in self.metrics}
        k = int(samples["num_buckets"].iloc[0])
        runs = [
            mauve_from_labels(
                samples.loc[real, c].to_numpy(dtype=np.int64),
                samples.loc[gen, c].to_numpy(dtype=np.int64),
                k,
                params.divergence_curve_discretization_size,
                params.mauve_scaling_factor,
            )
            for c in columns
        ]
        out = {name: float(np.mean([r[name] for r in runs])) for name in runs[0]}
        out["mauve_seed_sd"] = float(np.std([r["mauve"] for r in runs], ddof=1)) if len(runs) > 1 else 0.0
        return out
