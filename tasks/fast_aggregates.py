"""Every task's ``aggregate`` rewritten for arrays, so a thousand resamples cost a few matrix products.

The kernels live with the tasks: each is one task's aggregate, registered under the task's name and
the versions it was written for, and the leaderboard's paired tests look one up by a run's task name
(``lookup``, ``light_lookup``) without naming any task themselves. This module imports numpy, pandas
and the metric declarations' types (``tasks.base``, whose ``metric_name`` spells every breakdown's
name), no task module, so that lookup costs no task import.

A paired test recomputes a task's aggregate on every resample. Through pandas that is a copy of the
table and a handful of ``groupby``/``mean`` calls per resample, for each side, each metric family and
each of the 2,000 resamples (bootstrap + permutation) — minutes for a whole leaderboard. But every
aggregate here is a function of *sums over rows* (Σ nll and Σ tokens; counts and sums per length, per
level, per probe site; histograms of cluster labels for MAUVE and of planned/written actions for
plan_match). A resample that takes group ``g`` ``w_g`` times has row sums ``Σ_g w_g · G[g]``, where
``G`` holds each group's (sample's) row sums of those per-row features. So:

* ``Kernel.features(frame)`` turns a per-sample table into per-row features ``X`` (rows × F);
* the caller sums them per group into ``G`` and forms ``W @ G`` for a whole matrix ``W`` of resample
  weights (bootstrap counts, or permutation swaps between the two sides) at once;
* ``Kernel.finalize(S)`` maps those sums (B × F) to each metric's B values, NaN where the pandas
  aggregate would give NaN or leave the metric out (an absent level, an empty length).

The pandas ``aggregate`` stays the definition: ``leaderboard.paired`` checks every kernel against it on
the tables at hand before trusting it (and falls back to pandas when they disagree), kernels are tied
to the task version they were written for, and the tests compare both paths to 1e-12 on tables of every
task kind. Conditions a kernel cannot express (row-order dependence it cannot prove away, non-finite
values, an unexpected column layout) make ``build`` return None: the pandas path then runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from tasks.base import DISTANCE, LENGTH, LEVEL, SITE, SITE_KIND, metric_name

Finalize = Callable[[np.ndarray], dict[str, np.ndarray]]
#: (validated task params, the per-sample tables a test will resample, the column whose values are its
#: samples) -> a kernel, or None (use pandas)
Builder = Callable[[Any, Sequence[pd.DataFrame], str], "Kernel | None"]
Factory = Callable[[Sequence[pd.DataFrame], str], "Kernel | None"]


@dataclass
class Kernel:
    """Per-row features and the map from their (weighted) sums to metric values.

    A feature may belong to one table of the pair (``side``: 0 the first, 1 the second; zero in the
    other), for aggregates that depend on which table a row came from — e.g. ``probes`` reads the first
    row's site, and in a permutation test the first table's rows come first."""

    blocks: list[tuple[Callable[[pd.DataFrame], np.ndarray], int, int | None]] = field(default_factory=list)
    finalize: Finalize = field(default=lambda s: {})

    @property
    def width(self) -> int:
        """Feature columns so far (a single column is width 0 in ``blocks``, one column here)."""
        return sum(max(w, 1) for _, w, _ in self.blocks)

    def add(self, column: Callable[[pd.DataFrame], np.ndarray], side: int | None = None) -> int:
        """Register one feature column (one value per row); returns its index in the sums."""
        self.blocks.append((column, 0, side))
        return self.width - 1

    def add_block(self, block: Callable[[pd.DataFrame], np.ndarray], width: int) -> list[int]:
        """Register ``width`` feature columns computed together (rows × width, e.g. a histogram)."""
        start = self.width
        self.blocks.append((block, width, None))
        return list(range(start, start + width))

    def features(self, frame: pd.DataFrame, side: int = 0) -> np.ndarray:
        """(rows × width) features of one table of the pair (``side`` 0: the first, 1: the second)."""
        n = len(frame)
        out = np.zeros((n, self.width), dtype=np.float64)
        j = 0
        for fn, width, only in self.blocks:
            if only is not None and only != side:
                j += max(width, 1)
            elif width == 0:
                out[:, j] = np.broadcast_to(np.asarray(fn(frame), dtype=np.float64), (n,))
                j += 1
            else:
                out[:, j : j + width] = np.asarray(fn(frame), dtype=np.float64).reshape(n, width)
                j += width
        return out


@dataclass(frozen=True)
class Registered:
    versions: tuple[str, ...]  # the task versions the kernel was written for; others run the pandas path
    build: Builder


KERNELS: dict[str, Registered] = {}
#: a task's sample-id column (``Task.sample_id``) where it is not "sample_id" (no built-in task differs)
UNITS: dict[str, str] = {}


def kernel(task: str, *versions: str) -> Callable[[Builder], Builder]:
    def deco(fn: Builder) -> Builder:
        KERNELS[task] = Registered(versions, fn)
        return fn

    return deco


def lookup(task_name: str, params: Any) -> Factory | None:
    """The kernel builder for a registered task and its validated params, when one matches its version."""
    from tasks.base import TASKS

    entry = KERNELS.get(task_name)
    if entry is None or task_name not in TASKS or TASKS.get(task_name).version not in entry.versions:
        return None
    return lambda frames, unit: entry.build(params, frames, unit)


def light_lookup(task_name: str, params: dict[str, Any]) -> Factory | None:
    """The kernel builder from a run row's params (the validated params as stored, every field filled
    in) without importing the task: its modules pull in torch, spaCy and scikit-learn, seconds a
    leaderboard should not spend. The caller checks the kernel against the metric values the task's
    own ``aggregate`` stored for each run instead of against the task version."""
    entry = KERNELS.get(task_name)
    if entry is None:
        return None
    view = SimpleNamespace(**params)
    return lambda frames, unit: entry.build(view, frames, unit)


# -- helpers ----------------------------------------------------------------------------------------
def _finite_numeric(frames: Sequence[pd.DataFrame], columns: Sequence[str]) -> bool:
    """Every column present, numeric or boolean, and finite in every table (pandas sums skip NaN; the
    arrays would not — such tables take the pandas path)."""
    for frame in frames:
        for c in columns:
            if c not in frame.columns:
                return False
            try:
                values = frame[c].to_numpy(dtype=np.float64)
            except (TypeError, ValueError):
                return False
            if not np.isfinite(values).all():
                return False
    return True


def _col(name: str) -> Callable[[pd.DataFrame], np.ndarray]:
    return lambda df: df[name].to_numpy(dtype=np.float64)


def _ones(df: pd.DataFrame) -> np.ndarray:
    return np.ones(len(df))


def _masked(
    name: str | None, mask: Callable[[pd.DataFrame], np.ndarray]
) -> Callable[[pd.DataFrame], np.ndarray]:
    """``name`` (or 1 per row) where ``mask`` holds, else 0."""
    if name is None:
        return lambda df: mask(df).astype(np.float64)
    return lambda df: np.where(mask(df), df[name].to_numpy(dtype=np.float64), 0.0)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, NaN where den is 0 (the tasks' "nothing counted" rule)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den != 0, num / np.where(den != 0, den, 1.0), np.nan)


def _means(
    k: Kernel,
    value_columns: Sequence[str],
    groups: Sequence[tuple[dict[str, Any], Callable[[pd.DataFrame], np.ndarray] | None]],
) -> list[tuple[dict[str, Any], str, int, int]]:
    """Sum and count features for the mean of each value column within each row group, a group
    given by its breakdown coordinates and row mask (``None``: all rows); returns (coordinates,
    column, sum index, count index)."""
    out = []
    for coords, mask in groups:
        count = k.add(_ones if mask is None else _masked(None, mask))
        for c in value_columns:
            total = k.add(_col(c) if mask is None else _masked(c, mask))
            out.append((coords, c, total, count))
    return out


def _equals(column: str, value: Any) -> Callable[[pd.DataFrame], np.ndarray]:
    return lambda df: (df[column] == value).to_numpy(dtype=bool)


# -- perplexity: ratios of sums ---------------------------------------------------------------------
@kernel("perplexity", "2")
def _perplexity(params: Any, frames: Sequence[pd.DataFrame], unit: str) -> Kernel | None:
    if not _finite_numeric(frames, ["nll", "n_tokens", "n_bytes"]):
        return None
    k = Kernel()
    nll, tokens, n_bytes = k.add(_col("nll")), k.add(_col("n_tokens")), k.add(_col("n_bytes"))

    def finalize(s: np.ndarray) -> dict[str, np.ndarray]:
        per_token = _ratio(s[:, nll], s[:, tokens])
        with np.errstate(over="ignore"):
            ppl = np.exp(per_token)
        return {
            "perplexity": ppl,
            "nll_per_token": per_token,
            "bits_per_byte": _ratio(s[:, nll], s[:, n_bytes]) / math.log(2),
        }

    k.finalize = finalize
    return k


# -- means over rows, overall and per continuation length (rouge, action_edit, summarization) --------
def _length_means(
    params: Any,
    frames: Sequence[pd.DataFrame],
    values: Sequence[str],
    lengths: Sequence[int],
    at_length: Sequence[str] | None = None,
) -> Kernel | None:
    """Means of ``values`` over all rows and at each length (``at_length``: the per-length order,
    when the task's aggregate reports them in another order than overall)."""
    needed = [*values, "length"] if lengths else list(values)
    if not _finite_numeric(frames, needed):
        return None
    k = Kernel()
    spec = _means(k, values, [({}, None)])
    for n in lengths:
        spec += _means(k, at_length or values, [({"length": n}, _equals("length", n))])

    def finalize(s: np.ndarray) -> dict[str, np.ndarray]:
        return {
            metric_name(c, (LENGTH,), coords): _ratio(s[:, total], s[:, count])
            for coords, c, total, count in spec
        }

    k.finalize = finalize
    return k


@kernel("rouge", "1")
def _rouge(params: Any, frames: Sequence[pd.DataFrame], unit: str) -> Kernel | None:
    return _length_means(params, frames, list(params.rouge_types), list(params.lengths))


@kernel("action_edit", "1")
def _action_edit(params: Any, frames: Sequence[pd.DataFrame], unit: str) -> Kernel | None:
    return _length_means(params, frames, ["edit_norm", "edit"], list(params.lengths), ["edit", "edit_norm"])


@kernel("summarization", "1")
def _summarization(params: Any, frames: Sequence[pd.DataFrame], unit: str) -> Kernel | None:
    return _length_means(params, frames, [*params.rouge_types, "summary_tokens"], [])


# -- accuracies and per-level accuracies (gsm8k, math) ----------------------------------------------
def _accuracy(frames: Sequence[pd.DataFrame], columns: dict[str, str]) -> Kernel | None:
    if "correct" not in columns.values() or not _finite_numeric(frames, list(columns.values())):
        return None
    k = Kernel()
    count = k.add(_ones)
    sums = {name: k.add(_col(col)) for name, col in columns.items()}
    levels: list[tuple[str, int, int]] = []
    if all("level" in f.columns for f in frames):
        known = [v for f in frames for v in pd.unique(f["level"]) if not pd.isna(v)]
        try:
            names = sorted(set(known))
        except TypeError:  # levels of mixed types: the pandas aggregate decides what happens
            return None
        for name in names:
            mask = _level_mask(name)
            at_level = metric_name("acc", (LEVEL,), {"level": name})
            levels.append((at_level, k.add(_masked(None, mask)), k.add(_masked("correct", mask))))
    elif any("level" in f.columns for f in frames):
        return None

    def finalize(s: np.ndarray) -> dict[str, np.ndarray]:
        out = {name: _ratio(s[:, j], s[:, count]) for name, j in sums.items()}
        out |= {name: _ratio(s[:, total], s[:, n]) for name, n, total in levels}
        return out

    k.finalize = finalize
    return k


def _level_mask(level: Any) -> Callable[[pd.DataFrame], np.ndarray]:
    return lambda df: (df["level"] == level).to_numpy(dtype=bool) & df["level"].notna().to_numpy()


#: the metric order of the math tasks' ``METRIC_COLUMNS`` (gsm8k: strict, flexible, boxed; math:
#: hendrycks, the extractors, string), which their ``aggregate`` reports in; lm-eval's columns follow
OUTCOME_ORDER = ("correct", *(f"correct_{x}" for x in ("strict", "flexible", "hendrycks", "boxed")),
                 *(f"correct_{x}" for x in ("minerva", "hash", "string")))  # fmt: skip


def _outcome_columns(frames: Sequence[pd.DataFrame]) -> dict[str, str]:
    """``acc`` ← ``correct`` and ``acc_<x>`` ← ``correct_<x>``: the 0/1 columns the math tasks average
    (their ``METRIC_COLUMNS``, and lm-eval's ``correct_lm_eval*``); columns the task does not report
    give metrics nobody asks for."""
    shared = [c for c in frames[0].columns if all(c in f.columns for f in frames)]
    rank = {c: i for i, c in enumerate(OUTCOME_ORDER)}
    shared.sort(key=lambda c: rank.get(c, len(rank)))  # stable: other columns keep the table's order
    out = {}
    for c in shared:
        numeric = all(pd.api.types.is_numeric_dtype(f[c]) or pd.api.types.is_bool_dtype(f[c]) for f in frames)
        if (c == "correct" or c.startswith("correct_")) and numeric:
            out["acc" + c[len("correct") :]] = c
    return out


@kernel("gsm8k", "1", "2")  # 2 changed what is extracted, not the aggregate
def _gsm8k(params: Any, frames: Sequence[pd.DataFrame], unit: str) -> Kernel | None:
    return _accuracy(frames, _outcome_columns(frames))


@kernel("math", "1", "2")
def _math(params: Any, frames: Sequence[pd.DataFrame], unit: str) -> Kernel | None:
    return _accuracy(frames, _outcome_columns(frames))


# -- latent perplexity: the critics' ratios of sums per source --------------------------------------
@kernel("latent_ppl", "2")
def _latent_ppl(params: Any, frames: Sequence[pd.DataFrame], unit: str) -> Kernel | None:
    # the critics (``tasks.latent_ppl.CRITICS``: bigram, hmm) are the <critic>_logp / <critic>_n pairs
    critics = [
        c[: -len("_logp")] for c in frames[0].columns if c.endswith("_logp") and f"{c[:-5]}_n" in frames[0]
    ]
    if not critics:
        return None
    columns = [f"{c}_{x}" for c in critics for x in ("logp", "n")]
    if not _finite_numeric(frames, columns) or not all("source" in f.columns for f in frames):
        return None
    k = Kernel()
    spec = {
        (c, source): (k.add(_masked(f"{c}_logp", _equals("source", source))),
                      k.add(_masked(f"{c}_n", _equals("source", source))))
        for c in critics for source in ("generated", "real")
    }  # fmt: skip

    def finalize(s: np.ndarray) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for c in critics:
            ppl = {}
            for source in ("generated", "real"):
                logp, n = spec[(c, source)]
                with np.errstate(over="ignore"):
                    ppl[source] = np.exp(-_ratio(s[:, logp], s[:, n]))
            gen, real = ppl["generated"], ppl["real"]
            out[c], out[f"{c}_real"] = gen, real
            ok = np.isfinite(gen) & (gen > 0) & np.isfinite(real) & (real > 0)
            with np.errstate(divide="ignore", invalid="ignore"):
                out[f"{c}_gap"] = np.where(ok, np.abs(np.log(gen) - np.log(real)), np.nan)
        return out

    k.finalize = finalize
    return k


# -- MAUVE: histograms of cluster labels per quantization --------------------------------------------
def mauve_arrays(
    p_counts: np.ndarray, q_counts: np.ndarray, discretization: int, scaling: float
) -> dict[str, np.ndarray]:
    """``tasks.mauve.mauve_from_labels`` for a batch of histograms (B × k each): the same divergence
    curve, sorting and trapezoids, and mauve-text's frontier integral, one row per resample."""
    weights = np.sort(np.linspace(1e-6, 1 - 1e-6, discretization))
    out: dict[str, np.ndarray] = {}
    for suffix, add in (("", 0.0), ("_star", 0.5)):
        p = (p_counts + add) / (p_counts + add).sum(axis=1, keepdims=True)
        q = (q_counts + add) / (q_counts + add).sum(axis=1, keepdims=True)
        r = weights[None, :, None] * p[:, None, :] + (1 - weights)[None, :, None] * q[:, None, :]
        kl_q, kl_p = _kl(q[:, None, :], r), _kl(p[:, None, :], r)  # (B, D)
        b = len(p)
        inf, zero = np.full((b, 1), np.inf), np.zeros((b, 1))
        x = np.exp(-scaling * np.concatenate([zero, kl_q, inf], axis=1))
        y = np.exp(-scaling * np.concatenate([inf, kl_p, zero], axis=1))
        out[f"mauve{suffix}"] = 0.5 * (_auc_sorted(x, y) + _auc_sorted(y, x))
        out[f"frontier_integral{suffix}"] = _frontier_integral(p, q)
    return out


def _kl(p: np.ndarray, r: np.ndarray) -> np.ndarray:
    """mauve-text's ``kl_multinomial`` along the last axis: inf where p > 0 = r, else Σ over p, r > 0.

    ``p`` is (B, 1, k) and ``r`` (B, D, k); one log per element of r, the masks on the small side."""
    live = p != 0
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = p * np.log(np.where(live, p, 1.0) / r)
    terms = np.where(live & (r != 0), terms, 0.0)
    kl = terms.sum(axis=-1)
    blocked = (live & (r == 0)).any(axis=-1)  # a mixture r = w p + (1 - w) q is 0 only where p and q are
    return np.where(blocked, np.inf, kl) if blocked.any() else kl


def _auc_sorted(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """sklearn's ``auc(x[i], y[i])`` with ``i = argsort(x)``, row by row."""
    order = np.argsort(x, axis=1)
    xs, ys = np.take_along_axis(x, order, 1), np.take_along_axis(y, order, 1)
    return np.trapezoid(ys, xs, axis=1)


def _frontier_integral(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """mauve-text's ``get_fronter_integral`` (scaling 2), elementwise then summed per row."""
    with np.errstate(divide="ignore", invalid="ignore"):
        mixed = 0.25 * (p + q) - 0.5 * (p * q * (np.log(p) - np.log(q)) / (p - q))
    term = np.where(
        (p == 0) & (q == 0),
        0.0,
        np.where(p == 0, q / 4, np.where(q == 0, p / 4, np.where(np.abs(p - q) > 1e-8, mixed, 0.0))),
    )
    return term.sum(axis=1) * 2


def _one_hot(frame: pd.DataFrame, column: str, side: str, n_buckets: int) -> np.ndarray:
    """(rows × k): 1 at a row's cluster label under one quantization, for rows of one side."""
    out = np.zeros((len(frame), n_buckets))
    rows = np.flatnonzero((frame["side"] == side).to_numpy())
    out[rows, frame[column].to_numpy(dtype=np.int64)[rows]] = 1.0
    return out


@kernel("mauve", "1")
def _mauve(params: Any, frames: Sequence[pd.DataFrame], unit: str) -> Kernel | None:
    def buckets(f: pd.DataFrame) -> list[str]:
        return sorted((c for c in f.columns if c.startswith("bucket")), key=lambda c: int(c[6:]))

    try:
        columns = buckets(frames[0])
    except ValueError:
        return None
    if not columns or any(buckets(f) != columns for f in frames):
        return None
    if not _finite_numeric(frames, [*columns, "num_buckets"]) or not all("side" in f.columns for f in frames):
        return None
    ks = {int(v) for f in frames for v in pd.unique(f["num_buckets"])}
    if len(ks) != 1:
        return None  # the pandas aggregate reads the first row's k: order-dependent across tables
    n_buckets = ks.pop()
    for f in frames:
        labels = f[columns].to_numpy()
        if (labels < 0).any() or (labels >= n_buckets).any() or (labels != np.round(labels)).any():
            return None
    k = Kernel()
    real_n = k.add(lambda df: (df["side"] == "real").to_numpy(dtype=np.float64))
    gen_n = k.add(lambda df: (df["side"] == "generated").to_numpy(dtype=np.float64))
    hist: dict[tuple[str, str], list[int]] = {}
    for c in columns:
        for side in ("real", "generated"):
            hist[(c, side)] = k.add_block(
                lambda df, c=c, side=side: _one_hot(df, c, side, n_buckets), n_buckets
            )
    names = ["mauve", "frontier_integral", "mauve_star", "frontier_integral_star"]

    def finalize(s: np.ndarray) -> dict[str, np.ndarray]:
        runs = [
            mauve_arrays(
                s[:, hist[(c, "real")]],
                s[:, hist[(c, "generated")]],
                params.divergence_curve_discretization_size,
                params.mauve_scaling_factor,
            )
            for c in columns
        ]
        out = {name: np.mean(np.stack([r[name] for r in runs]), axis=0) for name in names}
        mauves = np.stack([r["mauve"] for r in runs])
        out["mauve_seed_sd"] = np.std(mauves, axis=0, ddof=1) if len(runs) > 1 else np.zeros(len(s))
        empty = (s[:, real_n] == 0) | (s[:, gen_n] == 0)
        return {name: np.where(empty, np.nan, v) for name, v in out.items()}

    k.finalize = finalize
    return k


# -- plan_match: ratios, and the chance agreement of two action histograms ---------------------------
@kernel("plan_match", "2", "3")  # 3 adds plan_entropy (when the table records n_actions)
def _plan_match(params: Any, frames: Sequence[pd.DataFrame], unit: str) -> Kernel | None:
    needed = ["n_match", "n_compared", "n_plans", "n_sentences"]
    if not all({*needed, "plans", "tagged"} <= set(f.columns) for f in frames):
        return None
    if not _finite_numeric(frames, needed):
        return None
    firsts: list[np.ndarray] = []
    for f in frames:
        for col in ("plans", "tagged"):
            firsts.append(_compared_ids(f, col))
    ids = np.unique(np.concatenate(firsts)) if firsts else np.zeros(0, dtype=np.int64)
    k = Kernel()
    match, compared = k.add(_col("n_match")), k.add(_col("n_compared"))
    agree, count = (
        k.add(lambda df: (df["n_plans"] == df["n_sentences"]).to_numpy(dtype=np.float64)),
        k.add(_ones),
    )
    position = {int(a): i for i, a in enumerate(ids)}
    planned = k.add_block(lambda df: _histogram(df, "plans", position), len(ids))
    written = k.add_block(lambda df: _histogram(df, "tagged", position), len(ids))
    entropy: tuple[list[int], int] | None = None
    if all("n_actions" in f.columns for f in frames):  # version 3: the planned actions' entropy
        n_actions = {int(v) for f in frames for v in pd.unique(f["n_actions"])}
        if len(n_actions) != 1:
            return None  # the pandas aggregate reads the first row's K: order-dependent
        every = np.unique(np.concatenate([_compared_ids(f, "plans", None) for f in frames]))
        every_pos = {int(a): i for i, a in enumerate(every)}
        entropy = (
            k.add_block(lambda df: _histogram(df, "plans", every_pos, None), len(every)),
            n_actions.pop(),
        )

    def finalize(s: np.ndarray) -> dict[str, np.ndarray]:
        total = s[:, planned].sum(axis=1) if planned else np.zeros(len(s))
        cross = (s[:, planned] * s[:, written]).sum(axis=1) if planned else np.zeros(len(s))
        out = {
            "plan_match": _ratio(s[:, match], s[:, compared]),
            "count_agreement": _ratio(s[:, agree], s[:, count]),
            "plan_match_chance": _ratio(cross, total**2),
        }
        if entropy is not None:
            out["plan_entropy"] = _entropy_norm(s[:, entropy[0]], entropy[1])
        return out

    k.finalize = finalize
    return k


def _entropy_norm(counts: np.ndarray, n_actions: int) -> np.ndarray:
    """``harness.action_usage.usage_stats(...)["entropy_norm"]`` per row of counts; NaN without any
    planned action or with K <= 1 (as ``plan_entropy``)."""
    total = counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = counts / np.where(total > 0, total, 1.0)
        terms = np.where(counts > 0, p * np.log(np.where(counts > 0, p, 1.0)), 0.0)
    value = -terms.sum(axis=1) / math.log(n_actions) if n_actions > 1 else np.full(len(counts), np.nan)
    return np.where(total[:, 0] > 0, value, np.nan)


def _compared_ids(frame: pd.DataFrame, column: str, limit: str | None = "n_compared") -> np.ndarray:
    """The action ids among the first ``n_compared`` entries (all with ``limit=None``) of ``column``."""
    parts = [
        np.asarray(list(v)[: None if limit is None else int(n)], dtype=np.int64)
        for v, n in zip(frame[column], frame["n_compared"], strict=True)
    ]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _histogram(
    frame: pd.DataFrame, column: str, position: dict[int, int], limit: str | None = "n_compared"
) -> np.ndarray:
    """(rows × ids) counts of each action id among a row's first ``n_compared`` entries of ``column``
    (all of them with ``limit=None``)."""
    out = np.zeros((len(frame), len(position)))
    for i, (values, n) in enumerate(zip(frame[column], frame["n_compared"], strict=True)):
        for a in list(values)[: None if limit is None else int(n)]:
            out[i, position[int(a)]] += 1
    return out


# -- probes: accuracies per distance, site and site kind ---------------------------------------------
#: the dimensions ``probes`` declares for ``acc`` (``tasks.probes.Probes.metrics``), in their order
PROBE_DIMS = (SITE, SITE_KIND, DISTANCE)


@kernel("probes", "1")
def _probes(params: Any, frames: Sequence[pd.DataFrame], unit: str) -> Kernel | None:
    needed = ["n_tokens", "n_correct", "n_majority", "k"]
    if not all({*needed, "site"} <= set(f.columns) for f in frames) or not _finite_numeric(frames, needed):
        return None
    if any(f["site"].isna().any() or not f["site"].map(lambda s: isinstance(s, str)).all() for f in frames):
        return None
    first_site = _first_sites(frames, unit)
    if first_site is None:
        return None
    ks = sorted({v for f in frames for v in pd.unique(f["k"])})
    pairs = sorted({(s, kk) for f in frames for s, kk in zip(f["site"], f["k"], strict=True)})
    k = Kernel()
    tokens, correct = k.add(_col("n_tokens")), k.add(_col("n_correct"))

    def at(site: str | None, kk: Any | None, kind: str | None = None) -> Callable[[pd.DataFrame], np.ndarray]:
        def mask(df: pd.DataFrame) -> np.ndarray:
            m = np.ones(len(df), dtype=bool)
            if kk is not None:
                m &= (df["k"] == kk).to_numpy()
            if site is not None:
                m &= (df["site"] == site).to_numpy()
            if kind is not None:
                m &= df["site"].str.endswith(kind).to_numpy(dtype=bool)
            return m

        return mask

    def triple(mask: Callable[[pd.DataFrame], np.ndarray]) -> tuple[int, int, int]:
        return k.add(_masked(None, mask)), k.add(_masked("n_tokens", mask)), k.add(_masked("n_correct", mask))

    by_k = {kk: triple(at(None, kk)) for kk in ks}
    # chance@k reads the first row's site: the first table's when the resample holds any of its rows
    # at k (a permutation lists the first table's rows first), else the second's
    from_first = {kk: k.add(_masked(None, at(None, kk)), side=0) for kk in ks}
    chance = {
        kk: [
            (k.add(_masked("n_tokens", at(site, kk))), k.add(_masked("n_majority", at(site, kk))))
            for site in (first_site[0].get(kk), first_site[1].get(kk))
        ]
        for kk in ks
    }
    kinds = {kind: triple(at(None, None, kind)) for kind in ("pre_merge", "post_merge")}
    by_pair = {(s, kk): triple(at(s, kk)) for s, kk in pairs}

    def finalize(s: np.ndarray) -> dict[str, np.ndarray]:
        def present(n: int, value: np.ndarray) -> np.ndarray:
            return np.where(s[:, n] > 0, value, np.nan)

        out = {"acc": _ratio(s[:, correct], s[:, tokens])}
        for kk, (n, t, c) in by_k.items():
            out[metric_name("acc", PROBE_DIMS, {"k": kk})] = present(n, _ratio(s[:, c], s[:, t]))
            (t0, m0), (t1, m1) = chance[kk]
            first = np.where(s[:, from_first[kk]] > 0, _ratio(s[:, m0], s[:, t0]), _ratio(s[:, m1], s[:, t1]))
            out[metric_name("chance", (DISTANCE,), {"k": kk})] = present(n, first)
        for kind, (n, t, c) in kinds.items():
            out[metric_name("acc", PROBE_DIMS, {"site_kind": kind})] = present(n, _ratio(s[:, c], s[:, t]))
        for (site, kk), (n, t, c) in by_pair.items():
            out[metric_name("acc", PROBE_DIMS, {"site": site, "k": kk})] = present(
                n, _ratio(s[:, c], s[:, t])
            )
        return out

    k.finalize = finalize
    return k


def _first_sites(frames: Sequence[pd.DataFrame], unit: str) -> list[dict[Any, str]] | None:
    """Per table, the site whose rows ``chance@k`` reads, when it does not depend on the resample.

    The pandas aggregate takes the site of the first row at distance k of the resampled table. A
    resample keeps each sample's rows in their order, so within one table that is one fixed site when
    every sample's first row at k has it — true of the tables ``probes`` writes (site after site, each
    test document at every site). Otherwise None: the pandas path decides.
    """
    out: list[dict[Any, str]] = []
    for f in frames:
        if unit not in f.columns:
            return None
        sites: dict[Any, str] = {}
        for kk, group in f.drop_duplicates([unit, "k"]).groupby("k"):
            if group["site"].nunique() != 1:
                return None
            sites[kk] = group["site"].iloc[0]
        out.append(sites)
    return out
