"""Paper tables: a layout file (YAML) decides rows, groups, columns and blocks; the store fills them.

A layout names the metrics to show (with display names, in order), how rows are grouped (an explicit
mapping ``group -> variants``, or a variant field: ``family`` or one of the variants' trainer params),
whether the table is transposed, and its blocks (one per suite, e.g. one per backbone). ``build`` turns
it into a ``Paper`` that ``leaderboard.paper_render`` writes as Markdown, LaTeX or HTML.

Bold is earned, not assigned: a column's best cell is bold only when it differs from the runner-up by
the paired test on the same samples (``compare``), with every such comparison of the table corrected
together (Holm by default) and its CI excluding 0. A tie in the shown digits, a metric the task declares
unrankable (``MetricInfo.rank``) and a best row whose samples are gone are never bold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.errors import PlanevalError, SpecError
from harness.specs import load_spec
from leaderboard.declared import rankable
from leaderboard.multiplicity import METHODS, adjust
from leaderboard.render import ARROW, _fmt, decimals, unique_best
from leaderboard.tables import cells


class Column(BaseModel):
    """One metric of the table: the task label (its alias in the suite) and metric as stored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str
    metric: str
    name: str | None = None  # shown instead of task/metric

    def label(self) -> str:
        return self.name or f"{self.task}/{self.metric}"


class Block(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    suite: str
    title: str | None = None  # shown instead of the suite's name


class Layout(BaseModel):
    """The layout file (``planeval leaderboard --layout FILE``); see docs/leaderboard.md."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = ""
    columns: list[Column] = Field(min_length=1)
    #: explicit row groups in order (group name -> variants in order); rows not listed are left out
    groups: dict[str, list[str]] | None = None
    #: or group rows by a variant field: "family", or a trainer param of the variants ("selection")
    group_by: str | None = None
    names: dict[str, str] = Field(default_factory=dict)  # variant -> shown name
    blocks: list[Block] | None = None  # default: the --suite, else every suite with these columns
    transpose: bool = False  # metrics as rows, variants as columns
    spread: bool = False  # show ± std over seeds (or a single run's [lo, hi]) after each mean
    alpha: float = Field(0.05, gt=0, lt=1)
    correction: Literal["holm", "bh"] = "holm"

    @model_validator(mode="after")
    def _one_grouping(self) -> Layout:
        if self.groups is not None and self.group_by is not None:
            raise ValueError("give either groups (a mapping) or group_by (a variant field), not both")
        seen: dict[str, str] = {}
        for group, variants in (self.groups or {}).items():
            for v in variants:
                if v in seen:
                    raise ValueError(f"variant {v!r} is in two groups ({seen[v]!r} and {group!r})")
                seen[v] = group
        return self


def load_layout(path: Path) -> Layout:
    """The layout file, safe-loaded and validated (errors name the file and the field)."""
    if not Path(path).is_file():
        raise PlanevalError(f"{path}: no such layout file")
    return load_spec(Layout, Path(path))


# -- what the renderers draw ----------------------------------------------------------------------
@dataclass(frozen=True)
class PCell:
    text: str | None  # None: not evaluated
    best: bool = False


@dataclass(frozen=True)
class PRow:
    label: str
    cells: list[PCell]


@dataclass(frozen=True)
class PGroup:
    name: str | None
    rows: list[PRow]


@dataclass(frozen=True)
class PBlock:
    title: str | None
    corner: str  # the header of the label column
    headers: list[str]
    groups: list[PGroup]
    #: spans of named column groups over ``headers`` (transposed tables: the variant groups)
    header_groups: list[tuple[str | None, int]] = field(default_factory=list)


@dataclass(frozen=True)
class Paper:
    title: str
    blocks: list[PBlock]
    notes: list[str]


# -- building -------------------------------------------------------------------------------------
@dataclass
class _Column:
    """One (block, column)'s cells by variant and what its bold depends on."""

    block: int
    column: int
    texts: dict[str, str | None]
    best: str | None = None  # the unique best variant, when the column ranks
    runner_up: str | None = None
    bold: bool = False


Loaded = list[tuple[Block, pd.DataFrame, pd.DataFrame]]  # (block, its results, its runs)
Test = tuple[_Column, "pd.Series | None"]  # a column's best-vs-runner-up comparison (None: untestable)


def _grouping(
    spec: Layout, variants: list[str], families: dict[str, str], params_of: Any
) -> list[tuple[str | None, list[str]]]:
    """[(group name or None, [variants])] in display order."""
    if spec.groups is not None:
        return [(g, [v for v in vs if v in variants]) for g, vs in spec.groups.items()]
    if spec.group_by is None:
        return [(None, variants)]
    out: dict[str, list[str]] = {}
    for v in variants:
        if spec.group_by == "family":
            key = families[v]
        else:
            params = params_of(v) or {}
            key = str(params.get(spec.group_by, "–"))
        out.setdefault(key, []).append(v)
    return list(out.items())


def _text(row: Any, places: int, spread: bool) -> str:
    text = _fmt(row.mean, places)
    if spread and row.n > 1 and pd.notna(row.std):
        return f"{text} ± {_fmt(row.std, places)}"
    if spread and pd.notna(row.ci_low) and pd.notna(row.ci_high):
        return f"{text} [{_fmt(row.ci_low, max(places - 1, 0))}, {_fmt(row.ci_high, max(places - 1, 0))}]"
    return text


def _column(
    b: int, c: int, summary: pd.DataFrame, variants: list[str], higher: bool | None, spread: bool
) -> _Column:
    rows = summary.set_index("variant").reindex(variants)
    means = rows["mean"].astype(float)
    places = decimals(means)
    rounded = means.map(lambda x: float(_fmt(x, places)))
    texts = {
        v: None if pd.isna(r.mean) else _text(r, places, spread)
        for v, r in zip(variants, rows.itertuples(), strict=True)
    }
    col = _Column(b, c, texts)
    best = unique_best(rounded, higher)
    if best is not None:
        order = rounded.dropna().sort_values(ascending=not higher, kind="stable")
        col.best, col.runner_up = str(order.index[0]), str(order.index[1])
    return col


def _test(
    results: pd.DataFrame, runs: pd.DataFrame, col: _Column, spec: Layout, load: Any, n_boot: int
) -> pd.Series | None:
    """The paired comparison of the column's best row with its runner-up (a one-row frame), or None
    when it cannot be made (a row's per-sample table is gone, or they share no seed)."""
    from leaderboard.compare import _compare

    column = spec.columns[col.column]
    rows = results[
        (results["task"] == column.task)
        & (results["metric"] == column.metric)
        & results["variant"].isin([col.best, col.runner_up])
    ]
    try:
        frame = _compare(rows, runs, col.best, col.runner_up, None, load, n_boot, spec.alpha, 0, ci=True)
    except (PlanevalError, ValueError):
        return None
    return None if frame.empty else frame.iloc[0]


def build(
    store: Any, spec: Layout, source: str, suite: str | None = None, seeds: list[int] | None = None,
    n_boot: int = 1000,
) -> Paper:  # fmt: skip
    """The table of ``spec`` filled from ``store``; ``source`` (the layout's path) names errors."""
    blocks = spec.blocks or [Block(suite=s) for s in ([suite] if suite else store.suites())]
    pairs = {(c.task, c.metric) for c in spec.columns}
    loaded: Loaded = []
    for block in blocks:
        results = store.results(suite=block.suite, seeds=seeds)
        results = results[[tm in pairs for tm in zip(results["task"], results["metric"], strict=True)]]
        if spec.blocks is None and results.empty:
            continue  # a suite without any of these columns is not a block of this table
        runs = store.runs(suite=block.suite)
        loaded.append(
            (block, results.reset_index(drop=True), runs[runs["run_id"].isin(set(results["run_id"]))])
        )
    if not loaded or all(r.empty for _, r, _ in loaded):
        known = ", ".join(store.suites()) or "none"
        raise SpecError(source, "columns", f"no results for these columns in {store.url} (suites: {known})")
    every = pd.concat([r for _, r, _ in loaded], ignore_index=True)
    for i, c in enumerate(spec.columns):
        if not ((every["task"] == c.task) & (every["metric"] == c.metric)).any():
            raise SpecError(source, f"columns[{i}]", f"no results for task {c.task!r} metric {c.metric!r}")
    if spec.groups is not None:
        listed = [v for vs in spec.groups.values() for v in vs]
        absent = [v for v in listed if v not in set(every["variant"])]
        if absent:
            raise SpecError(source, "groups", f"variants with no results here: {', '.join(absent)}")
        every = every[every["variant"].isin(listed)]
    variants = list(dict.fromkeys(every.sort_values(["family", "variant"])["variant"]))
    if spec.groups is not None:
        variants = [v for v in listed if v in set(variants)]
    families = dict(zip(every["variant"], every["family"], strict=True))

    columns: list[_Column] = []
    tests: list[Test] = []
    unranked: set[str] = set()
    directions: dict[tuple[str, str], bool] = {}
    for b, (_, results, runs) in enumerate(loaded):
        results = results[results["variant"].isin(variants)]
        summary = cells(results) if not results.empty else pd.DataFrame(columns=["variant", "task", "metric"])
        ranks = rankable(results, runs)
        unranked |= {f"{t}/{m}" for (t, m), ok in ranks.items() if not ok}
        for tm, h in zip(
            zip(results["task"], results["metric"], strict=True), results["higher_is_better"], strict=True
        ):
            directions.setdefault(tm, bool(h))
        for c, column in enumerate(spec.columns):
            tm = (column.task, column.metric)
            block_rows = summary[(summary["task"] == column.task) & (summary["metric"] == column.metric)]
            higher = directions.get(tm) if ranks.get(tm, True) else None
            col = _column(b, c, block_rows, variants, higher, spec.spread)
            columns.append(col)
            if col.best is not None:
                tests.append((col, _test(results, runs, col, spec, store.load_samples, n_boot)))
    tested = [(col, row) for col, row in tests if row is not None]
    p_adj = adjust([float(row.p_value) for _, row in tested], spec.correction) if tested else []
    for (col, row), p in zip(tested, p_adj, strict=True):
        known = pd.notna(row.ci_low) and pd.notna(row.ci_high)  # no interval: no evidence it excludes 0
        excludes_zero = bool(known and not (row.ci_low <= 0 <= row.ci_high))
        col.bold = bool(p < spec.alpha) and excludes_zero and row.better == col.best

    paper_blocks = _blocks(spec, loaded, variants, families, columns, directions)
    notes = _notes(spec, tests, len(tested), sorted(unranked))
    return Paper(spec.title, paper_blocks, notes)


def _blocks(
    spec: Layout,
    loaded: Loaded,
    variants: list[str],
    families: dict[str, str],
    columns: list[_Column],
    directions: dict[tuple[str, str], bool],
) -> list[PBlock]:
    """The blocks as the renderers draw them: row groups of variants, or (transposed) metric rows under
    spanning variant groups."""
    from leaderboard.outputs import variant_params

    out = []
    for b, (block, _, _) in enumerate(loaded):
        by_column = {col.column: col for col in columns if col.block == b}
        grouping = _grouping(spec, variants, families, variant_params(block.suite))
        title = block.title or (block.suite if len(loaded) > 1 or spec.blocks else None)

        def cell(v: str, c: int, by_column: dict[int, _Column] = by_column) -> PCell:
            col = by_column[c]
            return PCell(col.texts.get(v), col.bold and col.best == v)

        heads = [
            f"{c.label()} {ARROW.get(directions.get((c.task, c.metric)), '')}".rstrip() for c in spec.columns
        ]
        if not spec.transpose:
            groups = [
                PGroup(
                    g,
                    [PRow(spec.names.get(v, v), [cell(v, c) for c in range(len(spec.columns))]) for v in vs],
                )
                for g, vs in grouping
                if vs
            ]
            out.append(PBlock(title, "variant", heads, groups))
        else:
            shown = [(g, vs) for g, vs in grouping if vs]
            order = [v for _, vs in shown for v in vs]
            rows = [PRow(heads[c], [cell(v, c) for v in order]) for c in range(len(spec.columns))]
            spans = [(g, len(vs)) for g, vs in shown] if any(g is not None for g, _ in shown) else []
            out.append(
                PBlock(title, "metric", [spec.names.get(v, v) for v in order], [PGroup(None, rows)], spans)
            )
    return out


def _notes(spec: Layout, tests: list[Test], n_tested: int, unranked: list[str]) -> list[str]:
    """The footnote: what bold means, the correction and its size, and what was not ranked or tested."""
    notes = [
        f"Bold: best in its column and better than the runner-up by the paired test on the same samples "
        f"(McNemar for accuracies, permutation otherwise; p-values corrected over the table's {n_tested} "
        f"comparisons by {METHODS[spec.correction]}; α = {spec.alpha:g}; the paired CI excludes 0). "
        "Ties in the shown digits are never bold."
    ]
    if unranked:
        notes.append(f"Not ranked (the task declares no meaningful best): {', '.join(unranked)}.")
    untested = [col for col, row in tests if row is None]
    if untested:
        names = ", ".join(sorted({spec.columns[c.column].label() for c in untested}))
        notes.append(f"Not tested (per-sample tables missing or no shared seed), so not bold: {names}.")
    return notes
