"""Leaderboard plots (matplotlib, PNG + SVG): metric bars with intervals, a trade-off sweep over a
variant parameter, and accuracy curves over hidden-state sites.

Nothing here names a task, variant or family: what a plot draws comes from stored fields and
declarations — a sweep's x from the variants' trainer params (``--sweep-param``) or ``--sweep-map``,
its reference lines from the variants' params too; the site curves from the runs whose metrics a task
declared along a ``site`` dimension.

Figures are built with ``matplotlib.figure.Figure`` rather than pyplot, so nothing here touches a global
backend or leaks figures: it renders headless (Agg) wherever it runs. Each plot kind is a function in
``PLOTS`` taking a ``PlotInput`` and returning named figures (none when the data has nothing to show).
"""

from __future__ import annotations

import base64
import io
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from harness.errors import PlanevalError
from harness.registry import did_you_mean
from harness.statistics import seed_interval
from leaderboard.select import is_breakdown
from leaderboard.tables import cells

FORMATS = ("png", "svg")
ARROW = {True: "↑", False: "↓"}
PROBE_COLUMNS = ("site", "layer", "k")  # plus accuracy, or n_correct and n_tokens (the counts per site)
#: the breakdown dimension whose runs the site curves draw (``tasks.base.SITE``)
SITE_DIM = "site"
#: the trainer parameter a sweep reads x from when ``--sweep-param`` names none (the trade-off suites')
DEFAULT_SWEEP_PARAM = "predicted_fraction"
SWEEP_COLUMNS = 4  # panels per row of the trade-off figure (one per task)


@dataclass
class PlotInput:
    """What a plot may draw from: the long-form results, the runs behind them, and how to reach samples."""

    results: pd.DataFrame
    runs: pd.DataFrame = field(default_factory=pd.DataFrame)
    load: Callable[[dict[str, Any]], pd.DataFrame | None] | None = None
    sweep_x: Mapping[str, float] = field(default_factory=dict)  # variant -> x (see sweep_positions)
    sweep_refs: tuple[str, ...] = ()  # variants drawn as horizontal lines (see sweep_references)
    sweep_label: str = DEFAULT_SWEEP_PARAM  # the x axis: the parameter swept
    metric_order: tuple[str, ...] = ()  # the order --metrics named them in (panels follow it)
    #: recorded training histories, long form (``Store.training_curves``): variant, seed, phase, step,
    #: name, value
    curves: pd.DataFrame = field(default_factory=pd.DataFrame)


Plot = Callable[[PlotInput], list[tuple[str, Figure]]]
PLOTS: dict[str, Plot] = {}


def plot(name: str) -> Callable[[Plot], Plot]:
    def deco(fn: Plot) -> Plot:
        PLOTS[name] = fn
        return fn

    return deco


def make_plots(kind: str, data: PlotInput) -> list[tuple[str, Figure]]:
    """Figures of one registered kind, or of every kind with ``all``."""
    if kind == "all":
        return [fig for fn in PLOTS.values() for fig in fn(data)]
    try:
        return PLOTS[kind](data)
    except KeyError:
        valid = [*sorted(PLOTS), "all"]
        raise PlanevalError(
            f"unknown plot {kind!r}{did_you_mean(kind, valid)} (valid: {', '.join(valid)})"
        ) from None


def save(fig: Figure, stem: Path, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """Write the figure as ``stem.png`` and ``stem.svg`` (no timestamps, so reruns are identical)."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for fmt in formats:
        path = stem.with_suffix(f".{fmt}")
        meta = {"Date": None} if fmt == "svg" else {}
        fig.savefig(path, format=fmt, dpi=150, bbox_inches="tight", metadata=meta)
        out.append(path)
    return out


def svg_data_uri(fig: Figure) -> str:
    """The figure as an SVG data URI: inline in a page, and inert (an <img> runs no script)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "plot"


def _family_colors(families: list[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    palette = colormaps["tab10"]
    return {f: palette(i % 10) for i, f in enumerate(dict.fromkeys(families))}


def _interval(row: Any) -> tuple[float, float]:
    """(below, above) the mean: the run's bootstrap CI with one seed, the t-interval over seeds with more."""
    lo, hi = (row.ci_low, row.ci_high) if row.n == 1 else seed_interval(row.mean, row.std, int(row.n))
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return 0.0, 0.0
    return max(row.mean - lo, 0.0), max(hi - row.mean, 0.0)


def _directions(results: pd.DataFrame) -> dict[tuple[str, str], bool]:
    first = results.drop_duplicates(["task", "metric"])
    return {
        (t, m): bool(h)
        for t, m, h in zip(first["task"], first["metric"], first["higher_is_better"], strict=True)
    }


# -- bars ------------------------------------------------------------------------------------------
@plot("bars")
def bars(data: PlotInput) -> list[tuple[str, Figure]]:
    """One figure per task, one panel per metric: a bar per variant with its interval, coloured by family."""
    if data.results.empty:
        return []
    summary = cells(data.results)
    directions = _directions(data.results)
    colors = _family_colors(list(summary["family"]))
    figures = []
    for task, block in summary.groupby("task", sort=False):
        metrics = list(dict.fromkeys(block["metric"]))
        variants = list(dict.fromkeys(block.sort_values(["family", "variant"])["variant"]))
        fig = Figure(figsize=(4.2 * len(metrics), 0.45 * len(variants) + 1.4), layout="constrained")
        axes = fig.subplots(1, len(metrics), squeeze=False)[0]
        for ax, metric in zip(axes, metrics, strict=True):
            rows = block[block["metric"] == metric].set_index("variant").reindex(variants)
            y = np.arange(len(variants))
            err = np.array([_interval(r) if pd.notna(r.mean) else (0, 0) for r in rows.itertuples()]).T
            ax.barh(y, rows["mean"].fillna(0), xerr=err, capsize=3,
                    color=[colors.get(f, "gray") for f in rows["family"]])  # fmt: skip
            ax.set_yticks(y, labels=variants)
            ax.invert_yaxis()
            ax.set_title(f"{metric} {ARROW[directions[(task, metric)]]}", fontsize=10)
            finite = rows["mean"][np.isfinite(rows["mean"])]
            if not finite.empty and (finite > 0).all() and finite.max() / finite.min() > 1e3:
                ax.set_xscale("log")
        fig.suptitle(str(task))
        present = list(dict.fromkeys(block["family"]))
        if len(present) > 1:
            handles = [Patch(color=colors[f], label=str(f)) for f in present]
            fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 6), fontsize=8)
        figures.append((f"bars_{_slug(str(task))}", fig))
    return figures


# -- trade-off sweep -------------------------------------------------------------------------------
def sweep_positions(
    variants: list[str],
    x_map: Mapping[str, float] | None = None,
    x_param: str | None = None,
    params_of: Callable[[str], Mapping[str, Any] | None] | None = None,
) -> dict[str, float]:
    """The sweep's x of each variant that has one: an explicit map first, else the variant's own
    trainer parameter ``x_param`` (as ``params_of`` reads it, e.g. from the variant registry with suite
    overrides). Nothing is read from a variant's name."""
    out: dict[str, float] = {}
    for v in variants:
        if x_map and v in x_map:
            out[v] = float(x_map[v])
            continue
        params = params_of(v) if (x_param and params_of) else None
        if params is not None and x_param in params and params[x_param] is not None:
            out[v] = float(params[x_param])
    return out


def sweep_references(
    variants: list[str],
    x: Mapping[str, float],
    x_param: str,
    params_of: Callable[[str], Mapping[str, Any] | None],
    family_of: Mapping[str, str] | None = None,
) -> tuple[str, ...]:
    """Variants drawn as reference lines: those without an x that either set every other parameter the
    swept variants set (the same kind of training with no single x, e.g. x scheduled over training) or
    belong to the swept variants' family (its baseline, e.g. the LM fine-tuned without actions), so a
    variant of another family trained some other way is not drawn against the sweep."""
    swept = [params_of(v) or {} for v in variants if v in x]
    if not swept:
        return ()
    shared = set.intersection(*(set(p) for p in swept)) - {x_param}
    families = {family_of[v] for v in variants if v in x and v in family_of} if family_of else set()
    refs = []
    for v in variants:
        if v in x:
            continue
        params = params_of(v)
        same_training = params is not None and shared and shared <= set(params) and x_param not in params
        same_family = family_of is not None and family_of.get(v) in families
        if same_training or same_family:
            refs.append(v)
    return tuple(refs)


def _sweep_panels(summary: pd.DataFrame, data: PlotInput) -> list[tuple[str, str]]:
    """(task, metric) pairs that some swept variant has, in the order of the results."""
    pairs = summary.loc[summary["variant"].isin(list(data.sweep_x)), ["task", "metric"]]
    panels = list(dict.fromkeys(zip(pairs["task"], pairs["metric"], strict=True)))
    rank = {m: i for i, m in enumerate(data.metric_order)}
    return sorted(panels, key=lambda tm: rank.get(tm[1], len(rank)))  # stable: else the stored order


@plot("sweep")
def sweep(data: PlotInput) -> list[tuple[str, Figure]]:
    """Each headline metric (no breakdowns) in its own units against the swept parameter, one panel per
    (task, metric): the swept variants' means with their intervals (a run's bootstrap CI, or the
    t-interval over seeds), the reference variants as dashed lines with their interval shaded (the
    paper's Fig. 4: perplexity and plan match against the predicted fraction)."""
    if not data.sweep_x or data.results.empty:
        return []
    headline = data.results[~is_breakdown(data.results)]
    summary = cells(headline)
    directions = _directions(headline)
    panels = _sweep_panels(summary, data)
    if not panels:
        return []
    ncols = min(len(panels), SWEEP_COLUMNS)
    nrows = -(-len(panels) // ncols)
    fig = Figure(figsize=(4.2 * ncols, 3.3 * nrows), layout="constrained")
    grid = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in grid[len(panels) :]:
        ax.set_visible(False)  # the unused cells of the last row
    for ax, (task, metric) in zip(grid, panels, strict=False):
        rows = summary[(summary["task"] == task) & (summary["metric"] == metric)]
        pts = rows[rows["variant"].isin(list(data.sweep_x))].copy()
        pts = pts.assign(q=pts["variant"].map(data.sweep_x)).sort_values("q")
        err = np.array([_interval(r) for r in pts.itertuples()]).reshape(-1, 2).T
        ax.errorbar(pts["q"], pts["mean"], yerr=err, marker="o", capsize=3, color="C0", label="sweep")
        refs = rows[rows["variant"].isin(data.sweep_refs) & ~rows["variant"].isin(list(data.sweep_x))]
        for ref in refs.itertuples():
            color = f"C{(data.sweep_refs.index(ref.variant) + 1) % 10}"  # one colour per variant, every panel
            ax.axhline(ref.mean, color=color, linestyle="--", linewidth=1.2, label=str(ref.variant))
            below, above = _interval(ref)
            if below or above:
                ax.axhspan(ref.mean - below, ref.mean + above, color=color, alpha=0.12, linewidth=0)
        ax.set_xlabel(data.sweep_label)
        ax.set_ylabel(str(metric))
        ax.set_title(f"{task}: {metric} {ARROW[directions[(task, metric)]]}", fontsize=10)
        if pts["q"].between(0, 1).all():
            ax.set_xlim(-0.05, 1.05)  # a fraction: show the whole range
        ax.legend(fontsize=7)
    fig.suptitle(f"trade-off over {data.sweep_label} (intervals: 95%)")
    return [("sweep", fig)]


# -- probing curves --------------------------------------------------------------------------------
def probe_points(frame: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per (site kind, layer, k) from a per-site sample table.

    Takes either an ``accuracy`` column (averaged over repeated rows) or the counts
    ``n_correct`` / ``n_tokens`` (micro-averaged: Σ correct / Σ tokens, as the task aggregates). A site
    ``layer3.pre_merge`` is kind ``pre_merge`` at layer 3, so each kind becomes one curve over layers.
    """
    missing = [c for c in PROBE_COLUMNS if c not in frame.columns]
    counts = {"n_correct", "n_tokens"} <= set(frame.columns)
    if missing or ("accuracy" not in frame.columns and not counts):
        need = f"{', '.join(PROBE_COLUMNS)}, and accuracy or n_correct + n_tokens"
        raise PlanevalError(f"probe samples lack columns (have {list(frame.columns)}; need {need})")
    df = frame.assign(kind=frame["site"].astype(str).str.rsplit(".", n=1).str[-1])
    keys = ["kind", "layer", "k"]
    if "accuracy" in df.columns:
        points = df.groupby(keys, sort=True, dropna=False)["accuracy"].mean()
    else:
        sums = df.groupby(keys, sort=True, dropna=False)[["n_correct", "n_tokens"]].sum()
        points = sums["n_correct"] / sums["n_tokens"].where(sums["n_tokens"] > 0)
    return points.rename("accuracy").reset_index()


def probe_figure(frame: pd.DataFrame, title: str = "") -> Figure:
    """Probe accuracy against layer, a line per distance k, a panel per site kind (pre_merge, post_merge,
    resid, ...); against k, a line per site, when the sites have no layer numbers."""
    points = probe_points(frame)
    by_layer = points["layer"].notna().all()
    x, hue = ("layer", "k") if by_layer else ("k", "kind")
    panels = list(dict.fromkeys(points["kind"])) if by_layer else ["all sites"]
    fig = Figure(figsize=(4.2 * len(panels), 3.4), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
    for ax, name in zip(axes, panels, strict=True):
        block = points[points["kind"] == name] if by_layer else points
        for value, line in block.groupby(hue, sort=True):
            ax.plot(line[x], line["accuracy"], marker="o", label=f"{hue}={value}")
        ax.set_title(str(name), fontsize=10)
        ax.set_xlabel("layer" if by_layer else "tokens ahead (k)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=7)
    axes[0].set_ylabel("top-1 accuracy")
    if title:
        fig.suptitle(title)
    return fig


@plot("sites")
def sites(data: PlotInput) -> list[tuple[str, Figure]]:
    """One figure of accuracy per hidden-state site per (variant, seed) run whose metrics break down
    by site (a task declared the ``site`` dimension) and whose samples can still be read."""
    if data.runs.empty or data.load is None or "dims" not in data.results.columns:
        return []
    by_site = data.results["dims"].map(lambda d: isinstance(d, dict) and SITE_DIM in d)
    ids = set(data.results.loc[by_site, "run_id"])
    figures = []
    for run in data.runs[data.runs["run_id"].isin(ids)].to_dict("records"):
        samples = data.load(run)
        if samples is None:
            continue  # the cache entry is gone; the table still has the run's numbers
        name = f"{run['variant']} seed {run['seed']} ({run['task']})"
        figures.append((f"sites_{_slug(run['variant'])}_{run['seed']}", probe_figure(samples, name)))
    return figures


#: curve names drawn in a training figure before the rest (the learning rate is a schedule, not a result)
TRAINING_FIRST, TRAINING_SKIP, TRAINING_COLUMNS = ("loss",), ("lr",), 3


@plot("training")
def training(data: PlotInput) -> list[tuple[str, Figure]]:
    """One figure per training phase (``lm``, ``planner``, ``sft``, ``grpo``...): each logged curve
    against the step, one line per variant — the mean over seeds, with a band of ± one standard
    deviation where several seeds trained — from the histories recorded in the leaderboard."""
    curves = data.curves
    if curves.empty:
        return []
    variants = list(dict.fromkeys(curves["variant"]))
    colors = dict(zip(variants, _palette(len(variants)), strict=True))
    figures = []
    for phase, frame in curves.groupby("phase", sort=False):
        names = [n for n in dict.fromkeys(frame["name"]) if n not in TRAINING_SKIP]
        names = [n for n in TRAINING_FIRST if n in names] + [n for n in names if n not in TRAINING_FIRST]
        if not names:
            continue
        cols = min(TRAINING_COLUMNS, len(names))
        rows = math.ceil(len(names) / cols)
        fig = Figure(figsize=(4.2 * cols, 3.2 * rows), layout="constrained")
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
        for ax, name in zip(axes, names, strict=False):
            for variant, one in frame[frame["name"] == name].groupby("variant", sort=False):
                per_step = one.groupby("step")["value"].agg(["mean", "std", "count"]).sort_index()
                x, mean = per_step.index.to_numpy(), per_step["mean"].to_numpy()
                n_seeds = one["seed"].nunique()
                label = f"{variant} ({n_seeds} seeds)" if n_seeds > 1 else variant
                ax.plot(x, mean, color=colors[variant], label=label, linewidth=1.2)
                if n_seeds > 1:
                    sd = per_step["std"].fillna(0).to_numpy()
                    ax.fill_between(x, mean - sd, mean + sd, color=colors[variant], alpha=0.2, linewidth=0)
            ax.set_title(name)
            ax.set_xlabel("step")
            ax.grid(alpha=0.3)
        for ax in axes[len(names) :]:
            ax.set_visible(False)
        axes[0].legend(fontsize="small")
        fig.suptitle(f"training: {phase}")
        figures.append((f"training_{_slug(str(phase))}", fig))
    return figures


def _palette(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]
