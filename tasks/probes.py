"""Linear probes (docs/tasks/probes.md; the papers' Fig. 3): how much a frozen model's representation at a
site says about the token k = 1..K positions ahead.

For each site, a linear softmax classifier (multinomial logistic regression: standardised features →
logits over the tokens seen as targets in probe-training) is trained per distance k to predict
``x_{t+k}`` from ``h_t``, where ``h_t`` has read the document up to and including token t (the adapter's
``hidden_states`` rows, prefix token first). Documents, not tokens, are split into probe-train and
probe-test (seeded), and the split is the same for every site and distance, so sites compare on the same
held-out tokens. Top-1 accuracy on the held-out tokens is kept per (document, site, k), so ``aggregate``
micro-averages over any resample of documents; a test token never seen as a training target counts as
wrong. ``chance@k<k>`` is the accuracy of always predicting the most frequent training target.

Sites (``sites: auto``): every ``*.pre_merge`` and ``*.post_merge`` site (planner models: the attention
output of each conditioned layer before / after the plan embedding is added) when the model has them,
else every ``layer<i>.resid``. Plots of accuracy vs distance and vs layer are written as PNG into the
run's work folder, which is kept in the evaluation artifact. ``max_tokens`` caps the positions probed per
document and ``max_classes`` the tokens a probe can predict (the most frequent training targets; rarer
held-out targets count as wrong), which keeps paper-scale vocabularies and documents in memory.
The task needs the ``hidden_sites`` capability: a suite pairing it with a model without hidden sites
(e.g. the unigram floor) fails planning, or leaves the pair out with ``on_incapable: skip``.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
from pydantic import Field
from tqdm.auto import tqdm

from harness.adapters import PlanevalLM

if TYPE_CHECKING:  # torch loads only when a probe trains: reading the task's declarations stays light
    import torch
from tasks.base import (
    DISTANCE,
    SITE,
    SITE_KIND,
    TASKS,
    MetricInfo,
    MetricValues,
    Task,
    TaskContext,
    TaskParams,
)


class ProbeParams(TaskParams):
    sites: Literal["auto"] | tuple[str, ...] = "auto"
    max_distance: int = Field(8, ge=1, description="K: probe the tokens 1..K ahead")
    n_docs: int = Field(200, ge=2)
    split: Literal["val", "test"] = "test"
    test_fraction: float = Field(0.25, gt=0, lt=1)
    max_tokens: int | None = Field(256, ge=2, description="positions probed per document (its first ones)")
    max_classes: int | None = Field(
        2048, ge=2, description="most frequent training targets the probe can predict (None: all seen)"
    )
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(1024, ge=1)
    lr: float = Field(1e-2, gt=0)
    weight_decay: float = Field(1e-4, ge=0)


def resolve_sites(model: PlanevalLM, sites: str | tuple[str, ...]) -> list[str]:
    """``auto``: the planner sites (``*.pre_merge`` / ``*.post_merge``) if any, else ``layer<i>.resid``."""
    available = model.hidden_sites()
    if sites != "auto":
        unknown = [s for s in sites if s not in available]
        if unknown:
            raise ValueError(
                f"{model.identity!r} has no hidden sites {unknown} (valid: {', '.join(available)})"
            )
        return list(sites)
    merged = [s for s in available if s.endswith((".pre_merge", ".post_merge"))]
    chosen = merged or [s for s in available if re.fullmatch(r"layer\d+\.resid", s)]
    if not chosen:
        raise ValueError(f"{model.identity!r} exposes no probe sites (hidden_sites: {available})")
    return chosen


def layer_of(site: str) -> int | None:
    m = re.match(r"layer(\d+)\.", site)
    return int(m.group(1)) if m else None


def targets(ids: np.ndarray, max_distance: int) -> np.ndarray:
    """``(T, K)``: column k-1 holds ``ids[t+k]``, or -1 past the end."""
    t = len(ids)
    out = np.full((t, max_distance), -1, dtype=np.int64)
    for k in range(1, max_distance + 1):
        out[: max(t - k, 0), k - 1] = ids[k:]
    return out


def train_probe(
    x: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    params: ProbeParams,
    seed: int,
    desc: str = "",
    progress: bool = False,
) -> torch.nn.Linear:
    """One linear layer ``d → K·C`` (K independent softmax heads) trained with Adam on cross-entropy,
    ignoring the -1 targets. Deterministic in ``seed``."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    k = y.shape[1]
    probe = torch.nn.Linear(x.shape[1], k * n_classes)
    opt = torch.optim.Adam(probe.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in tqdm(range(params.epochs), disable=not progress, desc=f"probe {desc}", leave=False):
        for idx in torch.randperm(len(xt), generator=gen).split(params.batch_size):
            logits = probe(xt[idx]).view(len(idx), k, n_classes)
            loss = torch.nn.functional.cross_entropy(
                logits.reshape(-1, n_classes), yt[idx].reshape(-1), ignore_index=-1
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
    return probe


@TASKS.register("probes")
class Probes(Task):
    """Top-1 accuracy of linear probes predicting the token k ahead, per site and distance."""

    Params = ProbeParams
    limit_params = ("n_docs",)
    version = "1"
    metrics = {
        "acc": MetricInfo(
            True,
            "probe top-1 accuracy, all sites and distances (micro); per distance, site kind, site",
            dims=(SITE, SITE_KIND, DISTANCE),
        ),
        "chance": MetricInfo(True, "most-frequent-token accuracy, per distance", dims=(DISTANCE,)),
    }

    def needs(self, params: ProbeParams) -> frozenset[str]:
        return frozenset({"hidden_sites"})

    def evaluate(self, model: PlanevalLM, ctx: TaskContext) -> pd.DataFrame:
        import torch

        params: ProbeParams = ctx.params
        sites = resolve_sites(model, params.sites)
        docs = [d for d in ctx.corpus.split(params.split) if d.text.strip()]
        random.Random(ctx.seed).shuffle(docs)
        docs = docs[: params.n_docs]
        if len(docs) < 2:
            raise ValueError(f"probes need ≥ 2 documents in the {params.split} split, got {len(docs)}")
        texts = [d.text for d in docs]
        first = model.hidden_states(texts, [sites[0]])[sites[0]]
        # targets from the whole (model-truncated) document, positions from its first max_tokens
        full = [np.asarray(model.document_ids(t)[: len(h)]) for t, h in zip(texts, first, strict=True)]
        cut = params.max_tokens or max(len(x) for x in full)
        n_test = max(1, round(params.test_fraction * len(docs)))
        is_test = np.zeros(len(docs), dtype=bool)
        is_test[np.random.default_rng(ctx.seed).permutation(len(docs))[:n_test]] = True

        y_all = [targets(x, params.max_distance)[:cut] for x in full]
        train_y = np.concatenate([y for y, t in zip(y_all, is_test, strict=True) if not t])
        seen, freq = np.unique(train_y[train_y >= 0], return_counts=True)
        if seen.size == 0:
            raise ValueError("probes: no training targets (documents too short for the distances)")
        # the most frequent targets, by count then id (deterministic); the rest are never predicted
        classes = seen[np.lexsort((seen, -freq))][: params.max_classes or None]
        lookup = {int(c): i for i, c in enumerate(classes)}

        def to_class(y: np.ndarray) -> np.ndarray:
            """-1: no target (past the end); -2: a target the probe cannot predict (always wrong)."""
            out = np.full(y.shape, -1, dtype=np.int64)
            valid = y >= 0
            out[valid] = [lookup.get(int(v), -2) for v in y[valid]]
            return out

        ys = [to_class(y) for y in y_all]
        train_c = np.concatenate([y for y, t in zip(ys, is_test, strict=True) if not t])
        majority = [np.bincount(col[col >= 0], minlength=len(classes)).argmax() for col in train_c.T]

        rows = []
        for s_i, site in enumerate(sites):
            # one site at a time: all sites of all documents at once can exceed memory at paper scale
            states = first if s_i == 0 else model.hidden_states(texts, [site])[site]
            xs = [np.asarray(h[:cut], dtype=np.float32) for h in states]
            x_train = np.concatenate([x for x, t in zip(xs, is_test, strict=True) if not t])
            mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-6
            y_train = np.where(train_c >= 0, train_c, -1)  # unpredictable targets are not trained on
            probe = train_probe(
                (x_train - mean) / std, y_train, len(classes), params, ctx.seed + s_i, site, ctx.progress
            )
            with torch.inference_mode():
                for i in np.flatnonzero(is_test):
                    logits = probe(torch.from_numpy((xs[i] - mean) / std)).view(len(xs[i]), -1, len(classes))
                    pred = logits.argmax(-1).numpy()
                    for k in range(params.max_distance):
                        col = ys[i][:, k]
                        valid = col != -1
                        rows.append(
                            {
                                "sample_id": docs[i].id,
                                "site": site,
                                "layer": layer_of(site),
                                "k": k + 1,
                                "n_tokens": int(valid.sum()),
                                "n_correct": int((pred[valid, k] == col[valid]).sum()),
                                "n_majority": int((col[valid] == majority[k]).sum()),
                            }
                        )
        table = pd.DataFrame(rows)
        self._plot(self.aggregate(table, params), sites, params.max_distance, ctx.work_dir)
        return table

    def aggregate(self, samples: pd.DataFrame, params: ProbeParams) -> dict[str, float]:
        if "n_tokens" not in samples.columns:  # a skipped row stored by planeval < capabilities
            return {}

        def acc(df: pd.DataFrame, col: str = "n_correct") -> float:
            n = int(df["n_tokens"].sum())
            return float(df[col].sum() / n) if n else float("nan")

        out = MetricValues(self.metrics)
        out.put("acc", acc(samples))
        for k, at_k in samples.groupby("k"):
            out.put("acc", acc(at_k), k=k)
            one_site = at_k[at_k["site"] == at_k["site"].iloc[0]]
            out.put("chance", acc(one_site, "n_majority"), k=k)
        for kind in ("pre_merge", "post_merge"):
            sel = samples[samples["site"].str.endswith(kind)]
            if len(sel):
                out.put("acc", acc(sel), site_kind=kind)
        for (site, k), g in samples.groupby(["site", "k"]):
            out.put("acc", acc(g), site=site, k=k)
        return out

    @staticmethod
    def _plot(values: MetricValues, sites: list[str], max_distance: int, out_dir: Path) -> None:
        """accuracy vs distance (one line per site) and vs layer (one line per distance) as PNG."""
        # each value by its declared coordinates: (base, site, k)
        keys = getattr(values, "key_of", {})
        at = {(key.base, key.dims.get("site"), key.dims.get("k")): values[n] for n, key in keys.items()}
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        ks = list(range(1, max_distance + 1))
        fig, ax = plt.subplots(figsize=(6, 4))
        for site in sites:
            ax.plot(ks, [at.get(("acc", site, k), np.nan) for k in ks], marker="o", label=site)
        ax.plot(ks, [at.get(("chance", None, k), np.nan) for k in ks], "k--", label="most frequent token")
        ax.set_xticks(ks)
        ax.set(
            xlabel="distance k (tokens ahead)",
            ylabel="probe top-1 accuracy",
            title="Probe accuracy vs distance",
        )
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out_dir / "probes_vs_distance.png", dpi=120)
        plt.close(fig)

        layered = [s for s in sites if layer_of(s) is not None]
        if not layered:
            return
        kinds = sorted({s.split(".", 1)[1] for s in layered})
        fig, ax = plt.subplots(figsize=(6, 4))
        styles = ["-", "--", ":", "-."]
        for j, kind in enumerate(kinds):
            of_kind = sorted((s for s in layered if s.endswith("." + kind)), key=lambda s: layer_of(s) or 0)
            layers = [layer_of(s) for s in of_kind]
            for k in ks:
                ys = [at.get(("acc", s, k), np.nan) for s in of_kind]
                ax.plot(
                    layers,
                    ys,
                    styles[j % len(styles)],
                    marker="o",
                    color=f"C{(k - 1) % 10}",
                    label=f"k={k} {kind}",
                )
        ax.set_xticks(sorted({layer_of(s) or 0 for s in layered}))
        ax.set(xlabel="layer", ylabel="probe top-1 accuracy", title="Probe accuracy vs layer")
        ax.legend(fontsize=6, ncol=2)
        fig.tight_layout()
        fig.savefig(out_dir / "probes_vs_layer.png", dpi=120)
        plt.close(fig)
