"""Comparison tables as text: markdown, CSV, LaTeX (booktabs), HTML and JSON.

``layout`` decides once what every format shows (rounded numbers, CI or ± spread, the best cell per
column); each renderer only adds its own markup and escaping. Formats live in ``RENDERERS``, so a new
format (or a richer variant of one) is a function registered with ``@renderer("name")``.

Markdown, LaTeX and HTML are for reading: rounded numbers, every shown name escaped for its format.
CSV and JSON are for checking: one record per cell with the unrounded numbers (Python's ``repr`` of each
float, which reads back to the same double) and the ids of the runs behind it. CSV cells that a
spreadsheet would execute as a formula are escaped (``csv_safe``).
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

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
    run_ids: tuple[str, ...] = ()  # the runs the cell's number comes from (one per seed)
    seeds: tuple[int, ...] = ()

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
    correction: str = "none"  # how the marks' p-values were corrected for multiplicity

    def note(self) -> str | None:
        """The legend of the significance mark, when the table carries one."""
        if self.reference is None:
            return None
        corrected = {
            "holm": "; p-values Holm-corrected over every comparison in the table",
            "bh": "; p-values Benjamini–Hochberg-corrected (false discovery rate) over the table",
        }.get(self.correction, "; p-values not corrected for multiple comparisons")
        return (
            f"{DAGGER} differs from {self.reference} at p < {self.alpha:g} "
            f"(paired test on the same samples: McNemar for accuracies, permutation otherwise{corrected})"
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


def unique_best(rounded: pd.Series, higher: bool | None) -> float | None:
    """The best shown value of a column when exactly one cell holds it: one number is not "the best"
    of anything, and two equal shown numbers are a tie, which no reader could tell apart."""
    present = rounded.dropna()
    if higher is None or len(present) < 2:
        return None
    best = present.max() if higher else present.min()
    return best if int((present == best).sum()) == 1 else None


def _column_cells(block: dict[str, pd.Series], higher: bool | None, alpha: float) -> list[Cell]:
    """The cells of one (task, metric) column; ``block`` maps each stat to its values; ``higher`` is
    None for a column with no direction or one whose best value means nothing (``MetricInfo.rank``)."""
    means = block["mean"].astype(float)
    places = decimals(means)
    rounded = means.map(lambda x: float(_fmt(x, places)))  # what is shown (numpy's round can differ)
    present = rounded.dropna()
    best = unique_best(rounded, higher)
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
    ranks = table.attrs.get("rank", {})  # (task, metric) -> False where "best" means nothing
    alpha = float(table.attrs.get("alpha", 0.05))
    blocks: dict[tuple[str, str], dict[str, pd.Series]] = {}
    for (task, metric, stat), values in table.items():
        blocks.setdefault((task, metric), {})[stat] = values
    headers = [Header(t, m, directions.get((t, m))) for t, m in blocks]
    columns = [
        _column_cells(
            blocks[(h.task, h.metric)],
            h.higher_is_better if ranks.get((h.task, h.metric), True) else None,
            alpha,
        )
        for h in headers
    ]
    runs = table.attrs.get("runs", {})
    rows = []
    for i, (family, variant) in enumerate(table.index):
        row_cells = []
        for h, col in zip(headers, columns, strict=True):
            behind = runs.get((str(family), str(variant), h.task, h.metric), {})
            ids, seeds = tuple(behind.get("run_ids", ())), tuple(behind.get("seeds", ()))
            row_cells.append(replace(col[i], run_ids=ids, seeds=seeds))
        rows.append(Row(str(family), str(variant), row_cells))
    return Layout(
        headers, rows, reference=table.attrs.get("reference"), alpha=alpha,
        correction=str(table.attrs.get("correction", "none")),
    )  # fmt: skip


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
#: every ASCII punctuation mark that starts markup inline in CommonMark / GFM or common extensions
#: (emphasis, code, links, HTML and entities, tables, strikethrough, math, super/subscript, attributes)
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~$&^{}!])")
_LINE_BREAK = re.compile(r"[\r\n]+")


def md_escape(text: str) -> str:
    """Backslash-escape markdown punctuation (CommonMark allows it before any ASCII punctuation); a line
    break would end the table row, so it becomes a space."""
    return _MD_SPECIAL.sub(r"\\\1", _LINE_BREAK.sub(" ", text))


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
#: what makes a spreadsheet (Excel, LibreOffice, Google Sheets) read a cell as a formula or command
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|nan)")


def csv_safe(text: str) -> str:
    """A text cell a spreadsheet shows as text: one that would start a formula (``=``, ``+``, ``-``, ``@``,
    tab or a line break first, also after leading spaces) gets a leading ``'``, the OWASP remedy for
    CSV injection. A plain number (``-1.5``) is data, not a formula, and stays as it is."""
    if _NUMBER.fullmatch(text):
        return text
    if text.startswith(_FORMULA_START) or text.lstrip(" ").startswith(_FORMULA_START):
        return "'" + text
    return text


CSV_COLUMNS = [
    *ROW_KEYS, "task", "metric", "higher_is_better", "mean", "std", "n_seeds", "ci_low", "ci_high",
    "best", "rank", "shown", "run_ids", "seeds",
]  # fmt: skip


def _flag(x: bool | None) -> str:
    return "" if x is None else str(bool(x)).lower()


@renderer("csv")
def render_csv(lay: Layout) -> str:
    """One line per evaluated cell (long form): the unrounded numbers, the shown text, and the runs behind
    it (``run_ids``/``seeds``, ``;``-separated, one per seed); ``p``/``significant`` with a reference.

    Text fields are quoted and numbers are not (``QUOTE_NONNUMERIC``), so a number is never read as text
    and a name with a line break or a carriage return stays one field; a float is written as its
    ``repr``, which reads back to the same double."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
    with_p = lay.reference is not None
    writer.writerow([*CSV_COLUMNS, *(["p", "significant"] if with_p else [])])
    for row in lay.rows:
        for h, c in zip(lay.headers, row.cells, strict=True):
            if c.value is None and not c.run_ids:
                continue  # never evaluated: no record (the table formats show a dash)
            stats = c.stats or {}
            n = stats.get("n")  # present only when some cell of the table has several seeds
            n_seeds = len(c.seeds) if c.seeds else int(n) if n is not None else 1
            line = [
                csv_safe(row.family), csv_safe(row.variant), csv_safe(h.task), csv_safe(h.metric),
                _flag(h.higher_is_better), stats.get("mean"), stats.get("std"), n_seeds,
                stats.get("ci_low"), stats.get("ci_high"), _flag(c.best), c.rank, csv_safe(c.plain()),
                csv_safe(";".join(c.run_ids)), ";".join(str(s) for s in c.seeds),
            ]  # fmt: skip
            if with_p:
                line += [stats.get("p"), _flag(c.significant)]
            writer.writerow(line)
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
    """Every LaTeX special character as text; a line break (a blank line would end the row's paragraph
    inside the tabular) becomes a space."""
    return _LATEX_RE.sub(lambda m: _LATEX_SPECIAL[m.group()], _LINE_BREAK.sub(" ", text))


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
    """Unrounded numbers (null when absent; json writes each float's ``repr``), the best flags and the
    runs behind each cell (``run_ids``, ``seeds``: one per seed), for dashboards, scripts and checkers."""
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
                        "run_ids": list(c.run_ids),
                        "seeds": list(c.seeds),
                    }
                    for h, c in zip(lay.headers, row.cells, strict=True)
                ],
            }
            for row in lay.rows
        ],
    }
    return json.dumps(doc, ensure_ascii=False, indent=2, allow_nan=False) + "\n"
