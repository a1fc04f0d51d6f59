"""The web leaderboard: one self-contained HTML page (inline CSS, JS and plots; no network to open it).

The table sorts (click a header) and filters (type in the box); its family and variant columns stay
in view when it scrolls sideways (``position: sticky``). Clicking a row shows the metadata of every run
behind it, the variant's values across the commits the store recorded (its history), and a button per
run that opens its per-sample rows (prompt, output, reference, per-sample scores), paged.

Safety: every text from the store goes through ``html.escape``; the run metadata
travels as JSON inside a ``<script type="application/json">`` block with ``<``, ``>`` and ``&``
escaped, and the script only ever writes it with ``textContent``; plots are SVG inside ``<img>`` (which
runs no script); a Content-Security-Policy lets only this page's own script run and loads nothing.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from leaderboard.render import MISSING, Cell, Layout, shade_color
from leaderboard.tables import ROW_KEYS

RUN_FIELDS = [
    "run_id", "suite", "variant", "family", "task", "task_name", "seed", "status", "created_at",
    "config_hash", "model_key", "eval_key", "git_commit", "params", "timings", "package_versions",
    "samples_path",
]  # fmt: skip

CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5rem;color:#1a1a1a}
h1{font-size:1.4rem;margin:0 0 .3rem}
.meta,.legend{color:#555;font-size:.85rem;margin:.2rem 0}
#filter{margin:.8rem 0;padding:.3rem .5rem;width:20rem;font:inherit}
.scroll{overflow-x:auto;max-width:100%;margin:.5rem 0}
table.lb{border-collapse:separate;border-spacing:0}
table.lb .sticky{position:sticky;left:0;z-index:1;background:#fff}
table.lb th.sticky{z-index:2;background:#f3f3f3}
table.lb .sticky.c1{box-shadow:2px 0 0 #ccc}
button.samples{font:inherit;font-size:.75rem;margin-left:.4rem;cursor:pointer}
#drill{margin:1rem 0;padding:.5rem 1rem;border:1px solid #9bc;background:#f7fbff}
#drill h2{font-size:1.05rem;margin:.3rem 0}
#drill .pager button{font:inherit;margin-right:.4rem}
#drill table{border-collapse:collapse;font-size:.8rem;margin:.4rem 0}
#drill th,#drill td{border:1px solid #ddd;padding:.15rem .4rem;vertical-align:top;text-align:left}
#drill td{max-width:32rem;white-space:pre-wrap;overflow-wrap:anywhere;font-family:ui-monospace,monospace}
#details h3{font-size:.95rem;margin:.6rem 0 .2rem}
#details,#drill{overflow-x:auto}
#details table.history td,#details table.history th{white-space:nowrap}
table.lb th,table.lb td{border:1px solid #ddd;padding:.25rem .5rem;white-space:nowrap}
table.lb th{background:#f3f3f3;cursor:pointer;user-select:none}
table.lb th[aria-sort=ascending]::after{content:" \\25B2"}
table.lb th[aria-sort=descending]::after{content:" \\25BC"}
table.lb td.num{text-align:right;font-variant-numeric:tabular-nums}
table.lb tbody tr{cursor:pointer}
table.lb tbody tr:hover td{outline:1px solid #999}
table.lb tbody tr.sel td{outline:2px solid #2a6}
#details{margin:1rem 0;padding:.5rem 1rem;border:1px solid #ccc;background:#fafafa}
#details h2{font-size:1.05rem;margin:.3rem 0}
#details table{border-collapse:collapse;margin:.3rem 0;font-size:.8rem}
#details th,#details td{border-top:1px solid #e4e4e4;padding:.15rem .8rem .15rem 0;vertical-align:top}
#details th{text-align:left}
#details td{font-family:ui-monospace,Menlo,monospace;max-width:28rem;overflow-wrap:anywhere}
.kv div{white-space:pre-wrap}
figure{display:inline-block;margin:.5rem 1rem .5rem 0}
figure img{max-width:100%}
figcaption{color:#555;font-size:.8rem}
"""

JS = """
(function () {
  "use strict";
  const table = document.getElementById("lb");
  const body = table.tBodies[0];
  const runs = JSON.parse(document.getElementById("runs").textContent);
  const samples = JSON.parse(document.getElementById("samples").textContent);
  const history = JSON.parse(document.getElementById("history").textContent);
  const details = document.getElementById("details");
  const drill = document.getElementById("drill");
  const PAGE = 20;

  // the frozen columns: the variant column sits right of the family column, whatever its width
  function freeze() {
    const first = table.tHead.rows[0].cells[0].getBoundingClientRect().width;
    table.querySelectorAll(".sticky.c1").forEach(function (c) { c.style.left = first + "px"; });
  }
  freeze();
  window.addEventListener("resize", freeze);

  function el(tag, text) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function text(v) {
    if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
    return v === null || v === undefined ? "" : typeof v === "string" ? v : JSON.stringify(v);
  }
  function showSamples(run, page) {
    const doc = samples[run.run_id];
    drill.replaceChildren();
    drill.appendChild(el("h2", "samples of " + run.variant + " \u00b7 " + run.task + " \u00b7 seed " +
      run.seed + " (run " + String(run.run_id).slice(0, 12) + ")"));
    const pages = Math.max(1, Math.ceil(doc.rows.length / PAGE));
    page = Math.min(Math.max(page, 0), pages - 1);
    const start = page * PAGE, end = Math.min(start + PAGE, doc.rows.length);
    let info = "rows " + (doc.rows.length ? start + 1 : 0) + "\u2013" + end + " of " + doc.rows.length;
    if (doc.n_rows > doc.rows.length) {
      info += " in this page (the run has " + doc.n_rows + ": planeval show " +
        String(run.run_id).slice(0, 12) + " --json -n -1 prints them all)";
    }
    const pager = el("div");
    pager.className = "pager";
    const prev = el("button", "\u2190 previous"), next = el("button", "next \u2192");
    prev.className = "prev"; next.className = "next";
    prev.disabled = page === 0; next.disabled = page >= pages - 1;
    prev.addEventListener("click", function () { showSamples(run, page - 1); });
    next.addEventListener("click", function () { showSamples(run, page + 1); });
    const where = el("span", info + " \u00b7 page " + (page + 1) + "/" + pages);
    where.className = "where";
    pager.append(prev, next, where);
    drill.appendChild(pager);
    const t = el("table");
    const head = t.createTHead().insertRow();
    doc.columns.forEach(function (c) { head.appendChild(el("th", c)); });
    const tb = t.createTBody();
    doc.rows.slice(start, end).forEach(function (r) {
      const tr = tb.insertRow();
      r.forEach(function (v) { tr.insertCell().textContent = text(v); });
    });
    drill.appendChild(t);
    drill.hidden = false;
  }
  function showHistory(doc) {
    details.appendChild(el("h3", "history across commits (mean over seeds)"));
    const t = el("table");
    t.className = "history";
    const head = t.createTHead().insertRow();
    ["commit", "first recorded", "seeds"].concat(doc.columns).forEach(function (c) {
      head.appendChild(el("th", c));
    });
    const tb = t.createTBody();
    doc.points.forEach(function (pt) {
      const tr = tb.insertRow();
      [pt.commit, pt.at, pt.seeds.join(",")].forEach(function (v) { tr.insertCell().textContent = v; });
      pt.values.forEach(function (v) {
        tr.insertCell().textContent = v === null ? "\u2013" : Number(v).toPrecision(6);
      });
    });
    details.appendChild(t);
  }

  function key(row, col) {
    const cell = row.cells[col];
    const v = cell.dataset.v;
    if (v === undefined) return cell.textContent.trim().toLowerCase();
    return v === "" ? null : parseFloat(v);
  }
  table.tHead.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      const asc = th.getAttribute("aria-sort") !== "ascending";
      table.tHead.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      const rows = Array.from(body.rows);
      rows.sort(function (a, b) {
        const x = key(a, col), y = key(b, col);
        if (x === null || y === null) return (x === null) - (y === null);  // missing cells last
        const c = x < y ? -1 : x > y ? 1 : 0;
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });

  document.getElementById("filter").addEventListener("input", function (e) {
    const q = e.target.value.trim().toLowerCase();
    Array.from(body.rows).forEach(function (r) {
      const text = (r.cells[0].textContent + " " + r.cells[1].textContent).toLowerCase();
      r.hidden = q !== "" && !text.includes(q);
    });
  });

  function show(value) {
    if (value !== null && typeof value === "object") {
      const box = document.createElement("div");
      box.className = "kv";
      Object.keys(value).forEach(function (k) {
        const line = document.createElement("div");
        const v = value[k];
        line.textContent = k + ": " + (typeof v === "string" ? v : JSON.stringify(v));
        box.appendChild(line);
      });
      return box;
    }
    return document.createTextNode(value === null || value === undefined ? "" : String(value));
  }
  Array.from(body.rows).forEach(function (row) {
    row.addEventListener("click", function () {
      Array.from(body.rows).forEach(function (r) { r.classList.remove("sel"); });
      row.classList.add("sel");
      const list = runs[row.dataset.row] || [];
      details.replaceChildren();
      const title = document.createElement("h2");
      title.textContent = row.cells[1].textContent + " (" + row.cells[0].textContent + "): " +
        list.length + " runs";
      details.appendChild(title);
      const t = document.createElement("table");
      const head = t.createTHead().insertRow();
      head.appendChild(document.createElement("th"));
      list.forEach(function (run) {
        const th = document.createElement("th");
        th.textContent = run.task + " \\u00b7 seed " + run.seed;
        if (samples[run.run_id]) {
          const b = el("button", "samples");
          b.className = "samples";
          b.dataset.run = run.run_id;
          b.addEventListener("click", function () { showSamples(run, 0); });
          th.appendChild(b);
        }
        head.appendChild(th);
      });
      const tbody = t.createTBody();
      const fields = [];
      list.forEach(function (run) {
        Object.keys(run).forEach(function (k) { if (!fields.includes(k)) fields.push(k); });
      });
      fields.forEach(function (k) {
        const tr = tbody.insertRow();
        const name = document.createElement("th");
        name.textContent = k;
        tr.appendChild(name);
        list.forEach(function (run) { tr.insertCell().appendChild(show(run[k])); });
      });
      details.appendChild(t);
      if (history[row.dataset.row]) showHistory(history[row.dataset.row]);
      drill.hidden = true;
      details.hidden = false;
      details.scrollIntoView({block: "nearest"});
    });
  });
})();
"""

_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def script_json(doc: Any) -> str:
    """JSON safe inside a <script> block: no ``</script>``, comment or entity can be formed."""
    text = json.dumps(doc, ensure_ascii=False, allow_nan=False, default=str)
    return "".join(_JSON_ESCAPES.get(ch, ch) for ch in text)


def _csp_hash(script: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")


def _json_value(x: Any) -> Any:
    """Plain JSON values: NaN/inf become null, timestamps ISO strings, numpy scalars Python ones."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, (pd.Timestamp, datetime)):
        return x.isoformat()
    if hasattr(x, "item") and not isinstance(x, (list, dict, str)):
        return _json_value(x.item())
    return x


def _metric_text(value: float, lo: float | None, hi: float | None, n: int) -> str:
    """``value [lo, hi] n=…`` with 6 significant digits: exact enough to check, short enough to read."""
    ci = (
        f" [{lo:.6g}, {hi:.6g}]"
        if lo is not None and hi is not None and pd.notna(lo) and pd.notna(hi)
        else ""
    )
    return f"{value:.6g}{ci} n={int(n)}"


def run_metadata(runs: pd.DataFrame, results: pd.DataFrame) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Per (family, variant): its runs' metadata and metric values, in task then seed order."""
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    if runs.empty:
        return out
    by_run = results.groupby("run_id", sort=False)
    ids = set(results["run_id"])
    chosen = runs[runs["run_id"].isin(ids)].sort_values(["task", "seed"])
    for run in chosen.to_dict("records"):
        doc = {k: _json_value(run.get(k)) for k in RUN_FIELDS if k in run}
        metrics = by_run.get_group(run["run_id"]) if run["run_id"] in by_run.groups else results.iloc[:0]
        doc["metrics"] = {
            m: _metric_text(v, lo, hi, n)
            for m, v, lo, hi, n in zip(
                metrics["metric"],
                metrics["value"],
                metrics["ci_low"],
                metrics["ci_high"],
                metrics["n"],
                strict=True,
            )
        }
        out.setdefault((str(run["family"]), str(run["variant"])), []).append(doc)
    return out


def _sort_key(cell: Cell) -> str:
    """The unrounded mean as JavaScript's parseFloat reads it ("" for a missing cell)."""
    mean = None if cell.stats is None else cell.stats.get("mean")
    if mean is None or math.isnan(mean):
        return ""
    return repr(float(mean)) if math.isfinite(mean) else ("Infinity" if mean > 0 else "-Infinity")


def _td(cell: Cell) -> str:
    sort = _sort_key(cell)
    shade = cell.shade()
    style = f' style="background:{shade_color(shade)}"' if shade is not None else ""
    if cell.value is None:
        return f'<td class="num" data-v=""{style}>{html.escape(MISSING)}</td>'
    value = html.escape(cell.value)
    text = (f"<b>{value}</b>" if cell.best else value) + html.escape(cell.suffix())
    return f'<td class="num" data-v="{html.escape(sort)}"{style}>{text}</td>'


def _table(lay: Layout) -> str:
    head = [f'<th scope="col">{html.escape(k)}</th>' for k in ROW_KEYS]
    titles = {True: "higher is better", False: "lower is better", None: ""}
    head += [
        f'<th scope="col" title="{titles[h.higher_is_better]}">{html.escape(h.title())}</th>'
        for h in lay.headers
    ]
    head[0] = head[0].replace("<th ", '<th class="sticky c0" ', 1)
    head[1] = head[1].replace("<th ", '<th class="sticky c1" ', 1)
    lines = [
        '<div class="scroll">',
        '<table id="lb" class="lb">',
        "<thead><tr>" + "".join(head) + "</tr></thead>",
    ]
    lines.append("<tbody>")
    for i, row in enumerate(lay.rows):
        tds = [
            f'<td class="sticky c0">{html.escape(row.family)}</td>',
            f'<td class="sticky c1">{html.escape(row.variant)}</td>',
        ]
        tds += [_td(c) for c in row.cells]
        lines.append(f'<tr data-row="{i}">' + "".join(tds) + "</tr>")
    lines += ["</tbody>", "</table>", "</div>"]
    return "\n".join(lines)


def _figures(figures: Iterable[tuple[str, str]]) -> str:
    parts = [
        f'<figure><img alt="{html.escape(name)}" src="{html.escape(uri)}"><figcaption>{html.escape(name)}'
        "</figcaption></figure>"
        for name, uri in figures
    ]
    return "\n".join(parts)


def page(
    lay: Layout,
    runs: pd.DataFrame,
    results: pd.DataFrame,
    figures: Iterable[tuple[str, str]] = (),
    title: str = "planeval leaderboard",
    samples: dict[str, dict[str, Any]] | None = None,
    history: dict[str, dict[str, Any]] | None = None,
) -> str:
    """The whole page; ``figures`` are (caption, data URI) pairs, e.g. from ``plots.svg_data_uri``;
    ``samples`` (run id → rows) and ``history`` (row index → values per commit) come from
    ``leaderboard.page_data``."""
    meta = run_metadata(runs, results)
    runs_doc = {str(i): meta.get((r.family, r.variant), []) for i, r in enumerate(lay.rows)}
    commits = sorted({str(c)[:12] for c in results.get("git_commit", pd.Series(dtype=str)).dropna()})
    generated = datetime.now(timezone.utc).isoformat(timespec="seconds")
    info = (
        f"{len(lay.rows)} variants \u00b7 {results['run_id'].nunique()} runs \u00b7 commit "
        f"{', '.join(commits) or 'unknown'} \u00b7 generated {generated}"
    )
    legend = (
        "Click a column header to sort, a row to see its runs, their per-sample rows (samples) and the "
        "variant's history across commits. Bold: the single best in its column (ties and spread metrics "
        "are never bold); shading: rank within the column (darker is better); [lo, hi]: 95% bootstrap "
        "interval of a single run; \u00b1: standard deviation over seeds."
    )
    note = lay.note()
    csp = (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        f"script-src '{_csp_hash(JS)}'; base-uri 'none'; form-action 'none'"
    )
    plots = _figures(figures)
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{html.escape(csp)}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{html.escape(title)}</title>",
            f"<style>{CSS}</style>",
            "</head><body>",
            f"<h1>{html.escape(title)}</h1>",
            f'<p class="meta">{html.escape(info)}</p>',
            f'<p class="legend">{html.escape(legend)}</p>',
            f'<p class="legend">{html.escape(note)}</p>' if note else "",
            '<input id="filter" type="search" placeholder="filter by variant or family" aria-label="filter">',
            _table(lay),
            '<section id="details" hidden></section>',
            '<section id="drill" hidden></section>',
            f'<section id="plots"><h2>Plots</h2>\n{plots}</section>' if plots else "",
            f'<script type="application/json" id="runs">{script_json(runs_doc)}</script>',
            f'<script type="application/json" id="samples">{script_json(samples or {})}</script>',
            f'<script type="application/json" id="history">{script_json(history or {})}</script>',
            f"<script>{JS}</script>",
            "</body></html>",
        ]
    )
