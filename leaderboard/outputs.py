"""What ``planeval leaderboard --format X`` writes: a table format, the web page, or a baseline snapshot.

Table formats (``render.RENDERERS``) need only the comparison table; the others need more of the store
(the runs' metadata, plots, every metric), so they are registered here with ``@output(name)`` and
receive a whole ``Board``. An output registered under a table format's name replaces it for the CLI:
``html`` is the full page here, while ``render(table, "html")`` stays the bare ``<table>``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from harness.errors import PlanevalError
from harness.registry import did_you_mean
from leaderboard.declared import rankable
from leaderboard.render import RENDERERS, layout, render
from leaderboard.select import ALL, metric_order, select_metrics
from leaderboard.tables import comparison_table

if TYPE_CHECKING:
    from leaderboard.plots import PlotInput


@dataclass(frozen=True)
class Selection:
    """What the user asked to see."""

    suite: str | None = None
    variants: list[str] | None = None
    tasks: list[str] | None = None
    seeds: list[int] | None = None
    metrics: str | None = None  # glob patterns, see select.select_metrics
    reference: str | None = None  # mark cells differing significantly from this variant
    alpha: float = 0.05
    n_boot: int = 1000
    correction: str = "holm"  # of the --reference marks' p-values: holm, bh or none
    sweep_param: str | None = None  # the variants' trainer param holding the sweep's x
    sweep_map: Mapping[str, float] = field(default_factory=dict)
    include_limited: bool = False  # also the runs of ``planeval run --limit N`` (marked [limit N])


@dataclass
class Board:
    """The selected results, the runs behind them and their comparison table."""

    selection: Selection
    results: pd.DataFrame
    runs: pd.DataFrame
    table: pd.DataFrame
    #: reads a run's per-sample table (the store's: from the database itself)
    load: Callable[[Any], pd.DataFrame | None] | None = None
    #: every ok run's results (older commits too) with the runs' ``created_at``: the page's history
    history: pd.DataFrame | None = None


@dataclass(frozen=True)
class Output:
    write: Callable[[Board], str]
    all_metrics: bool = False  # by default keep the per-length breakdowns too (a baseline guards them)


OUTPUTS: dict[str, Output] = {}


def output(
    name: str, all_metrics: bool = False
) -> Callable[[Callable[[Board], str]], Callable[[Board], str]]:
    def deco(fn: Callable[[Board], str]) -> Callable[[Board], str]:
        OUTPUTS[name] = Output(fn, all_metrics)
        return fn

    return deco


def formats() -> list[str]:
    return sorted(set(RENDERERS) | set(OUTPUTS))


def _check_format(fmt: str) -> None:
    if fmt not in OUTPUTS and fmt not in RENDERERS:
        valid = formats()
        raise PlanevalError(f"unknown format {fmt!r}{did_you_mean(fmt, valid)} (valid: {', '.join(valid)})")


def build_board(store: Any, sel: Selection, fmt: str = "md") -> Board:
    """Read the selection from a ``Store``, pick metrics, run the significance tests if asked."""
    _check_format(fmt)
    results = store.results(
        suite=sel.suite, variants=sel.variants, tasks=sel.tasks, seeds=sel.seeds,
        include_limited=sel.include_limited,
    )  # fmt: skip
    if results.empty:
        where = f" for suite {sel.suite!r}" if sel.suite else ""
        known = ", ".join(store.suites()) or "none"
        raise PlanevalError(f"no results{where} matching the selection in {store.url} (suites: {known})")
    wants_all = fmt in OUTPUTS and OUTPUTS[fmt].all_metrics
    results = select_metrics(results, sel.metrics if sel.metrics is not None or not wants_all else ALL)
    runs = store.runs(suite=sel.suite)
    runs = runs[runs["run_id"].isin(set(results["run_id"]))].reset_index(drop=True)
    significance = None
    if sel.reference is not None:
        from leaderboard.compare import significance_vs

        significance = significance_vs(
            results, runs, sel.reference, load=store.load_samples, n_boot=sel.n_boot
        )
        if sel.correction != "none" and not significance.empty:
            from leaderboard.multiplicity import adjust

            # a table shows every p-value at once: correct them together, or chance makes marks
            significance = significance.assign(p_value=adjust(significance["p_value"], sel.correction))
    order = metric_order(results, sel.metrics)
    table = comparison_table(
        results, order, significance=significance, reference=sel.reference, alpha=sel.alpha
    )
    if significance is not None:
        table.attrs["correction"] = sel.correction
    table.attrs["rank"] = rankable(results, runs)
    history = _history(store, sel, results) if fmt == "html" else None
    return Board(sel, results.reset_index(drop=True), runs, table, load=store.load_samples, history=history)


def _history(store: Any, sel: Selection, results: pd.DataFrame) -> pd.DataFrame:
    """The selection's results at every recorded commit (not only the newest run), with each run's
    ``created_at`` so the commits can be put in order."""
    every = store.results(
        suite=sel.suite, variants=sel.variants, tasks=sel.tasks, seeds=sel.seeds, latest=False
    )
    every = every[every["metric"].isin(set(results["metric"]))]
    when = store.runs(suite=sel.suite).set_index("run_id")["created_at"]
    return every.assign(created_at=every["run_id"].map(when))


def write(fmt: str, board: Board) -> str:
    """The board in format ``fmt``: a registered output, else a table renderer."""
    _check_format(fmt)
    if fmt in OUTPUTS:
        return OUTPUTS[fmt].write(board)
    return render(board.table, fmt)


# -- the web page ----------------------------------------------------------------------------------
def variant_params(suite: str | None) -> Callable[[str], Mapping[str, Any] | None]:
    """A variant's trainer params from the registry, with the suite's overrides merged over them."""
    from harness.catalog import SUITES, VARIANTS

    overrides = SUITES.get(suite).overrides if suite and suite in SUITES else {}

    def params_of(variant: str) -> Mapping[str, Any] | None:
        if variant not in VARIANTS:
            return None
        return {**VARIANTS.get(variant).params, **overrides.get(variant, {})}

    return params_of


def plot_input(board: Board) -> PlotInput:
    """What the plots draw from: the board, the cache's sample tables, and the sweep's x per variant
    (``--sweep-map``, else the variants' trainer parameter ``--sweep-param``) and its reference lines."""
    from leaderboard.compare import cache_samples
    from leaderboard.plots import DEFAULT_SWEEP_PARAM, PlotInput, sweep_positions, sweep_references

    load = board.load or cache_samples

    sel = board.selection
    variants = list(dict.fromkeys(board.results["variant"]))
    param = sel.sweep_param or DEFAULT_SWEEP_PARAM
    params_of = variant_params(sel.suite)
    x = sweep_positions(variants, sel.sweep_map, param, params_of)
    families = dict(zip(board.results["variant"], board.results["family"], strict=True))
    refs = sweep_references(variants, x, param, params_of, families)
    order = tuple(metric_order(board.results, sel.metrics) or ())
    return PlotInput(
        board.results, board.runs, load, sweep_x=x, sweep_refs=refs, sweep_label=param, metric_order=order
    )


@output("html")
def html_page(board: Board) -> str:
    """The self-contained web leaderboard with every applicable plot inline."""
    from leaderboard.page import page
    from leaderboard.page_data import history_doc, samples_doc
    from leaderboard.plots import make_plots, svg_data_uri

    figures = [(name, svg_data_uri(fig)) for name, fig in make_plots("all", plot_input(board))]
    suite = board.selection.suite
    title = f"planeval leaderboard \u2013 {suite}" if suite else "planeval leaderboard"
    lay = layout(board.table)
    rows = [(r.family, r.variant) for r in lay.rows]
    history = history_doc(board.history, rows, [(h.task, h.metric) for h in lay.headers])
    samples = samples_doc(board.runs, board.load)
    return page(lay, board.runs, board.results, figures, title=title, samples=samples, history=history)


# -- baselines for regression checks ----------------------------------------------------------------
def _single_suite(board: Board) -> str | None:
    suites = sorted(set(board.results["suite"]))
    if len(suites) > 1:
        raise PlanevalError(
            f"a baseline covers one suite; these results span {', '.join(suites)}: use --suite"
        )
    return suites[0]


@output("baseline", all_metrics=True)
def baseline_json(board: Board) -> str:
    """A JSON snapshot for ``planeval regress --baseline``."""
    from leaderboard.regress import dump, snapshot

    return dump(snapshot(board.results, _single_suite(board)), "json")


@output("baseline-yaml", all_metrics=True)
def baseline_yaml(board: Board) -> str:
    """The same snapshot as YAML (read back with yaml.safe_load)."""
    from leaderboard.regress import dump, snapshot

    return dump(snapshot(board.results, _single_suite(board)), "yaml")
