"""Comparison tables as text: markdown, CSV, LaTeX (booktabs), HTML and JSON.

``layout`` decides once what every format shows (rounded numbers, CI or ± spread, the best cell per
column); each renderer only adds its own markup and escaping. Formats live in ``RENDERERS``, so a new
format (or a richer variant of one) is a function registered with ``@renderer("name")``.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from harness.errors import PlanevalError
from harness.registry import did_you_mean
from leaderboard.tables import ROW_KEYS

ARROW = {True: "↑", False: "↓", None: ""}
MISSING = "\u2013"  # en dash: a variant that was not evaluated on this column
DAGGER = "\u2020"  # marks a cell that differs significantly from the reference row
SIGNIFICANT = 4  # digits of the largest value in a column; the rest of the column uses its decimals


@dataclass(frozen=True)
class Header:
    task: str
    metric: str
    higher_is_better: bool | None  # None when the table carries no direction (no arrow, no bold)

    @property
    def label(self) -> str:
        return f"{self.task}/{self.metric}"

    def title(self) -> str:
        """The label with its direction arrow."""
        mark = ARROW[self.higher_is_better]
        return f"{self.label} {mark}" if mark else self.label


@dataclass(frozen=True)
class Cell:
    value: str | None  # the rounded mean; None for a variant that lacks this column
    ci: tuple[str, str] | None = None
    std: str | None = None
    best: bool = False
    stats: dict[str, float | None] | None = None  # the unrounded numbers, for machine formats
    rank: int | None = None  # 1 = best in its column (ties share a rank); None without a direction
    ranked: int = 0  # how many cells of the column have a rank
    significant: bool = False  # p < alpha against the reference row

    def suffix(self) -> str:
        """What follows the value: ``[lo, hi]`` for a bootstrap CI, ``± std`` across seeds, † when the
        difference from the reference row is significant."""
        mark = f" {DAGGER}" if self.significant else ""
        if self.std is not None:
            return f" ± {self.std}{mark}"
        if self.ci is not None:
            return f" [{self.ci[0]}, {self.ci[1]}]{mark}"
        return mark

    def shade(self) -> float | None:
        """0 for the best cell of the column up to 1 for the worst; None when unranked."""
        if self.rank is None or self.ranked < 2:
            return None
        return (self.rank - 1) / (self.ranked - 1)

    def plain(self) -> str:
        return "" if self.value is None else self.value + self.suffix()


@dataclass(frozen=True)
class Row:
    family: str
    variant: str
    cells: list[Cell]


@dataclass(frozen=True)
class Layout:
    headers: list[Header]
    rows: list[Row]
    reference: str | None = None  # the row significance marks compare against
    alpha: float = 0.05

    def note(self) -> str | None:
        """The legend of the significance mark, when the table carries one."""
        if self.reference is None:
            return None
        return (
            f"{DAGGER} differs from {self.reference} at p < {self.alpha:g} "
            "(paired test on the same samples: McNemar for accuracies, permutation otherwise)"
        )


# -- layout ---------------------------------------------------------------------------------------
def decimals(values: pd.Series) -> int:
    """Decimals that give the column's largest finite value SIGNIFICANT digits (2 if none)."""
    finite = values.abs()[values.abs().lt(math.inf)].dropna()
    top = float(finite.max()) if not finite.empty else 0.0
    if top == 0.0:
        return 2
    return min(6, max(0, SIGNIFICANT - 1 - math.floor(math.log10(top))))


def _fmt(x: float, places: int) -> str:
    return f"{x:.{places}f}" if math.isfinite(x) else str(x)


def _optional(x: object) -> float | None:
    return None if x is None or pd.isna(x) else float(x)


def _column_cells(block: dict[str, pd.Series], higher: bool | None, alpha: float) -> list[Cell]:
    """The cells of one (task, metric) column; ``block`` maps each stat to its values."""
    means = block["mean"].astype(float)
    places = decimals(means)
    rounded = means.map(lambda x: float(_fmt(x, places)))  # what is shown (numpy's round can differ)
    present = rounded.dropna()
    best = None
    if higher is not None and len(present) > 1:  # one number is not "the best" of anything
        best = present.max() if higher else present.min()
    ranks = rounded.rank(method="min", ascending=not higher) if higher is not None else None
    cells = []
    for i in range(len(means)):
        stats = {s: _optional(values.iloc[i]) for s, values in block.items()}
        mean, std, n = stats["mean"], stats.get("std"), stats.get("n")
        lo, hi = stats.get("ci_low"), stats.get("ci_high")
        if mean is None:
            cells.append(Cell(value=None, stats=stats))
            continue
        ci_places = max(places - 1, 0)
        p = stats.get("p")
        cells.append(
            Cell(
                value=_fmt(mean, places),
                std=_fmt(std, places) if std is not None and n is not None and n > 1 else None,
                ci=(_fmt(lo, ci_places), _fmt(hi, ci_places)) if lo is not None and hi is not None else None,
                best=best is not None and bool(rounded.iloc[i] == best),
                stats=stats,
                rank=int(ranks.iloc[i]) if ranks is not None else None,
                ranked=len(present),
                significant=p is not None and p < alpha,
            )
        )
    return cells


def layout(table: pd.DataFrame) -> Layout:
    """What every format shows, decided once: headers with directions, rounded cells, best flags."""
    if not isinstance(table.columns, pd.MultiIndex) or table.columns.nlevels != 3:
        raise PlanevalError("render expects a table from leaderboard.tables.comparison_table")
    directions = table.attrs.get("higher_is_better", {})
    alpha = float(table.attrs.get("alpha", 0.05))
    blocks: dict[tuple[str, str], dict[str, pd.Series]] = {}
    for (task, metric, stat), values in table.items():
        blocks.setdefault((task, metric), {})[stat] = values
    headers = [Header(t, m, directions.get((t, m))) for t, m in blocks]
    columns = [_column_cells(blocks[(h.task, h.metric)], h.higher_is_better, alpha) for h in headers]
    rows = [
        Row(str(family), str(variant), [col[i] for col in columns])
        for i, (family, variant) in enumerate(table.index)
    ]
    return Layout(headers, rows, reference=table.attrs.get("reference"), alpha=alpha)


# -- the format registry --------------------------------------------------------------------------
Renderer = Callable[[Layout], str]
RENDERERS: dict[str, Renderer] = {}


def renderer(name: str) -> Callable[[Renderer], Renderer]:
    """Decorator registering a format; registering a name again replaces it (to customise a format)."""

    def deco(fn: Renderer) -> Renderer:
        RENDERERS[name] = fn
        return fn

    return deco


def render(table: pd.DataFrame, fmt: str) -> str:
    """The comparison table as text in format ``fmt`` (see ``RENDERERS``)."""
    try:
        fn = RENDERERS[fmt]
    except KeyError:
        valid = sorted(RENDERERS)
        raise PlanevalError(
            f"unknown table format {fmt!r}{did_you_mean(fmt, valid)} (valid: {', '.join(valid)})"
        ) from None
    return fn(layout(table))


# -- markdown -------------------------------------------------------------------------------------
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def md_escape(text: str) -> str:
    """Backslash-escape markdown punctuation (CommonMark allows it before any ASCII punctuation)."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def _md_cell(cell: Cell) -> str:
    if cell.value is None:
        return MISSING
    value = f"**{cell.value}**" if cell.best else cell.value
    return value + cell.suffix()


@renderer("md")
def render_md(lay: Layout) -> str:
    header = [*ROW_KEYS, *(h.title() for h in lay.headers)]
    lines = [
        "| " + " | ".join(md_escape(h) for h in header) + " |",
        "|" + "|".join(["---"] * len(ROW_KEYS) + ["---:"] * len(lay.headers)) + "|",
    ]
    for row in lay.rows:
        texts = [md_escape(row.family), md_escape(row.variant), *(_md_cell(c) for c in row.cells)]
        lines.append("| " + " | ".join(texts) + " |")
    note = lay.note()
    if note:
        lines += ["", md_escape(note)]
    return "\n".join(lines) + "\n"


# -- CSV ------------------------------------------------------------------------------------------
@renderer("csv")
def render_csv(lay: Layout) -> str:
    """The shown text without markup (no bold); JSON carries the unrounded numbers."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([*ROW_KEYS, *(h.title() for h in lay.headers)])
    for row in lay.rows:
        writer.writerow([row.family, row.variant, *(c.plain() for c in row.cells)])
    return buf.getvalue()


# -- LaTeX ----------------------------------------------------------------------------------------
_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
}
_LATEX_RE = re.compile("|".join(re.escape(k) for k in _LATEX_SPECIAL))
_LATEX_ARROW = {True: r"$\uparrow$", False: r"$\downarrow$", None: ""}


def latex_escape(text: str) -> str:
    return _LATEX_RE.sub(lambda m: _LATEX_SPECIAL[m.group()], text)


LATEX_SHADE = (0.70, 1.0)  # gray level of the best and of the worst cell (\cellcolor[gray]{...})


def _latex_cell(cell: Cell, shaded: bool = False) -> str:
    """Numbers need no escaping; only our own markup (bold, ±, †, shading) is LaTeX here."""
    if cell.value is None:
        return "--"
    value = rf"\textbf{{{cell.value}}}" if cell.best else cell.value
    mark = r"$^\dagger$" if cell.significant else ""
    if cell.std is not None:
        text = rf"{value} $\pm$ {cell.std}{mark}"
    elif cell.ci is not None:
        text = f"{value} [{cell.ci[0]}, {cell.ci[1]}]{mark}"
    else:
        text = value + mark
    shade = cell.shade()
    if shaded and shade is not None:
        best, worst = LATEX_SHADE
        text = rf"\cellcolor[gray]{{{best + (worst - best) * shade:.2f}}}" + text
    return text


@renderer("latex")
def render_latex(lay: Layout, shaded: bool = False) -> str:
    """A booktabs tabular; a \\midrule separates families."""
    header = [latex_escape(k) for k in ROW_KEYS]
    header += [f"{latex_escape(h.label)} {_LATEX_ARROW[h.higher_is_better]}".rstrip() for h in lay.headers]
    lines = [
        r"\begin{tabular}{" + "l" * len(ROW_KEYS) + "r" * len(lay.headers) + "}",
        r"\toprule",
        " & ".join(header) + r" \\",
        r"\midrule",
    ]
    for i, row in enumerate(lay.rows):
        if i and row.family != lay.rows[i - 1].family:
            lines.append(r"\midrule")
        texts = [latex_escape(row.family), latex_escape(row.variant)]
        texts += [_latex_cell(c, shaded) for c in row.cells]
        lines.append(" & ".join(texts) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    note = lay.note()
    if note:
        lines.append(latex_escape(note).replace(DAGGER, r"$^\dagger$") + r"\par")
    return "\n".join(lines) + "\n"


@renderer("latex-shaded")
def render_latex_shaded(lay: Layout) -> str:
    """The LaTeX table with cells shaded by rank within their column (needs \\usepackage[table]{xcolor})."""
    return "% needs \\usepackage{booktabs} and \\usepackage[table]{xcolor}\n" + render_latex(lay, shaded=True)


# -- HTML -----------------------------------------------------------------------------------------
_HTML_TITLE = {True: "higher is better", False: "lower is better", None: ""}


def _html_cell(cell: Cell) -> str:
    if cell.value is None:
        return html.escape(MISSING)
    value = html.escape(cell.value)
    return (f"<b>{value}</b>" if cell.best else value) + html.escape(cell.suffix())


def shade_color(shade: float) -> str:
    """Background of a ranked cell: a green that fades from the best (0) to the worst (1)."""
    return f"hsl(140, 55%, {78 + 19 * shade:.0f}%)"


def _html_td_style(cell: Cell) -> str:
    shade = cell.shade()
    background = f";background:{shade_color(shade)}" if shade is not None else ""
    return f' style="text-align:right{background}"'


@renderer("html")
def render_html(lay: Layout) -> str:
    """A self-contained ``<table>`` (no scripts, no external CSS); every text is escaped."""
    num = ' style="text-align:right"'
    head = [f"<th>{html.escape(k)}</th>" for k in ROW_KEYS]
    for h in lay.headers:
        title = f' title="{_HTML_TITLE[h.higher_is_better]}"' if h.higher_is_better is not None else ""
        head.append(f"<th{num}{title}>{html.escape(h.title())}</th>")
    lines = ['<table class="planeval-table">', "<thead>", "<tr>" + "".join(head) + "</tr>", "</thead>"]
    lines.append("<tbody>")
    for row in lay.rows:
        tds = [f"<td>{html.escape(row.family)}</td>", f"<td>{html.escape(row.variant)}</td>"]
        tds += [f"<td{_html_td_style(c)}>{_html_cell(c)}</td>" for c in row.cells]
        lines.append("<tr>" + "".join(tds) + "</tr>")
    lines += ["</tbody>", "</table>"]
    note = lay.note()
    if note:
        lines.append(f'<p class="planeval-note">{html.escape(note)}</p>')
    return "\n".join(lines) + "\n"


# -- JSON -----------------------------------------------------------------------------------------
def _finite(stats: dict[str, float | None]) -> dict[str, float | None]:
    """JSON has no inf/NaN: they become null (the text formats still show them)."""
    out = {k: v if v is not None and math.isfinite(v) else None for k, v in stats.items()}
    if out.get("n") is not None:
        out["n"] = int(out["n"])  # a seed count, stored as float only because the table is numeric
    return out


@renderer("json")
def render_json(lay: Layout) -> str:
    """Unrounded numbers (null when absent) plus the best flags, for dashboards and scripts."""
    doc = {
        "columns": [
            {"task": h.task, "metric": h.metric, "higher_is_better": h.higher_is_better} for h in lay.headers
        ],
        "rows": [
            {
                "family": row.family,
                "variant": row.variant,
                "cells": [
                    {
                        "task": h.task,
                        "metric": h.metric,
                        **_finite(c.stats or {}),
                        "best": c.best,
                        **({"significant": c.significant} if lay.reference is not None else {}),
                    }
                    for h, c in zip(lay.headers, row.cells, strict=True)
                ],
            }
            for row in lay.rows
        ],
    }
    return json.dumps(doc, ensure_ascii=False, indent=2, allow_nan=False) + "\n"
