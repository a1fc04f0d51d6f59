"""A ``paper.Paper`` as Markdown, LaTeX (booktabs, Table-1-style group rules and shading) or HTML.

Every name from the store or the layout is escaped for its format (``render``'s escapes); the numbers
are ours. LaTeX needs ``booktabs`` and, for the shading of alternate row groups, ``xcolor`` with its
``table`` option (the output's first line says so).
"""

from __future__ import annotations

import html

from harness.errors import PlanevalError
from leaderboard.paper import Paper, PBlock, PCell
from leaderboard.render import MISSING, latex_escape, md_escape

FORMATS = ("md", "latex", "html")
GROUP_SHADE = 0.93  # gray level of every other row group (\rowcolor[gray]{...})


def render_paper(paper: Paper, fmt: str) -> str:
    if fmt not in FORMATS:
        raise PlanevalError(f"--layout writes {', '.join(FORMATS)}, not {fmt!r}")
    return {"md": paper_md, "latex": paper_latex, "html": paper_html}[fmt](paper)


def _width(block: PBlock) -> int:
    return 1 + len(block.headers)


# -- markdown -------------------------------------------------------------------------------------
def _md_cell(cell: PCell) -> str:
    if cell.text is None:
        return MISSING
    return f"**{cell.text}**" if cell.best else cell.text


def paper_md(paper: Paper) -> str:
    """One pipe table per block; a group is a row with its name in italics (Markdown has no spans)."""
    lines = [f"**{md_escape(paper.title)}**", ""] if paper.title else []
    for block in paper.blocks:
        if block.title:
            lines += [f"*{md_escape(block.title)}*", ""]
        headers = [md_escape(h) for h in block.headers]
        if block.header_groups:
            names = [g or "" for g, n in block.header_groups for _ in range(n)]
            headers = [f"{md_escape(g)}: {h}" if g else h for g, h in zip(names, headers, strict=True)]
        lines.append("| " + " | ".join([md_escape(block.corner), *headers]) + " |")
        lines.append("|" + "|".join(["---", *(["---:"] * len(block.headers))]) + "|")
        for group in block.groups:
            if group.name is not None:
                lines.append(
                    "| " + " | ".join([f"*{md_escape(group.name)}*", *([""] * len(block.headers))]) + " |"
                )
            for row in group.rows:
                lines.append(
                    "| " + " | ".join([md_escape(row.label), *(_md_cell(c) for c in row.cells)]) + " |"
                )
        lines.append("")
    lines += [md_escape(n) for n in paper.notes]
    return "\n".join(lines) + "\n"


# -- LaTeX ----------------------------------------------------------------------------------------
def _tex_cell(cell: PCell) -> str:
    if cell.text is None:
        return "--"
    text = cell.text.replace("±", r"$\pm$")
    return rf"\textbf{{{text}}}" if cell.best else text


#: the non-ASCII symbols our own texts use, as LaTeX that pdflatex's default fonts can set
_TEX_SYMBOLS = {"↑": r"$\uparrow$", "↓": r"$\downarrow$", "α": r"$\alpha$", "±": r"$\pm$", "–": "--"}


def _tex_text(text: str) -> str:
    escaped = latex_escape(text)
    for symbol, tex in _TEX_SYMBOLS.items():
        escaped = escaped.replace(symbol, tex)
    return escaped


def paper_latex(paper: Paper) -> str:
    """A booktabs tabular per block (a block title row between \\midrules), row groups as an italic
    spanning row, every other group shaded; transposed tables span their variant groups over
    \\cmidrules. The footnote follows as a paragraph."""
    out = [r"% needs \usepackage{booktabs} and \usepackage[table]{xcolor}"]
    width = max(_width(b) for b in paper.blocks)
    out.append(r"\begin{tabular}{l" + "r" * (width - 1) + "}")
    out.append(r"\toprule")
    for i, block in enumerate(paper.blocks):
        if i:
            out.append(r"\midrule")
        if block.title:
            out.append(rf"\multicolumn{{{width}}}{{c}}{{\textbf{{{_tex_text(block.title)}}}}} \\")
            out.append(r"\midrule")
        if block.header_groups:
            spans, rules, col = [""], [], 2
            for name, n in block.header_groups:
                spans.append(rf"\multicolumn{{{n}}}{{c}}{{{_tex_text(name or '')}}}")
                if name:
                    rules.append(rf"\cmidrule(lr){{{col}-{col + n - 1}}}")
                col += n
            out.append(" & ".join(spans) + r" \\")
            out.append(" ".join(rules))
        out.append(" & ".join([latex_escape(block.corner), *(_tex_text(h) for h in block.headers)]) + r" \\")
        out.append(r"\midrule")
        for g, group in enumerate(block.groups):
            if g:
                out.append(r"\midrule")
            shade = rf"\rowcolor[gray]{{{GROUP_SHADE}}}" if g % 2 else ""
            if group.name is not None:
                out.append(rf"{shade}\multicolumn{{{width}}}{{l}}{{\textit{{{_tex_text(group.name)}}}}} \\")
            for row in group.rows:
                out.append(
                    shade + " & ".join([_tex_text(row.label), *(_tex_cell(c) for c in row.cells)]) + r" \\"
                )
    out += [r"\bottomrule", r"\end{tabular}"]
    out += [_tex_text(n) + r"\par" for n in paper.notes]
    return "\n".join(out) + "\n"


# -- HTML -----------------------------------------------------------------------------------------
def _html_cell(cell: PCell) -> str:
    if cell.text is None:
        return f'<td class="num">{html.escape(MISSING)}</td>'
    text = html.escape(cell.text)
    return f'<td class="num">{"<b>" + text + "</b>" if cell.best else text}</td>'


def paper_html(paper: Paper) -> str:
    """A ``<table>`` per block (no script, no external CSS), a group as a spanning ``<th>`` row;
    every text escaped."""
    out = [f"<h2>{html.escape(paper.title)}</h2>"] if paper.title else []
    for block in paper.blocks:
        width = _width(block)
        out.append('<table class="planeval-paper">')
        if block.title:
            out.append(f"<caption>{html.escape(block.title)}</caption>")
        out.append("<thead>")
        if block.header_groups:
            spans = "".join(f'<th colspan="{n}">{html.escape(g or "")}</th>' for g, n in block.header_groups)
            out.append(f"<tr><th></th>{spans}</tr>")
        heads = "".join(f'<th scope="col">{html.escape(h)}</th>' for h in block.headers)
        out.append(f'<tr><th scope="col">{html.escape(block.corner)}</th>{heads}</tr>')
        out.append("</thead>")
        for g, group in enumerate(block.groups):
            shade = ' style="background:#f0f0f0"' if g % 2 else ""
            out.append(f"<tbody{shade}>")
            if group.name is not None:
                out.append(
                    f'<tr><th colspan="{width}" scope="rowgroup"><i>{html.escape(group.name)}</i></th></tr>'
                )
            for row in group.rows:
                tds = "".join(_html_cell(c) for c in row.cells)
                out.append(f'<tr><th scope="row">{html.escape(row.label)}</th>{tds}</tr>')
            out.append("</tbody>")
        out.append("</table>")
    out += [f'<p class="planeval-note">{html.escape(n)}</p>' for n in paper.notes]
    return "\n".join(out) + "\n"
