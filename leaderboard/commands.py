"""The leaderboard's command-line verbs: ``compare``, ``regress``, ``plot``, ``claims`` and
``leaderboard --layout``, the selection that ``leaderboard`` shares with them, and ``show --json``. Their
options are defined in ``harness/cli/`` (one module per subcommand); here is what they do once parsed.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import PlanevalError

if TYPE_CHECKING:
    from leaderboard.outputs import Selection

OpenStore = Callable[[argparse.Namespace], Any]
Home = Callable[[argparse.Namespace], Path]
TABLE_FORMATS = ("md", "csv", "json")


# -- shared options ---------------------------------------------------------------------------------
def selection(args: argparse.Namespace, suite: str | None = None) -> Selection:
    from leaderboard.outputs import Selection

    return Selection(
        suite=suite if suite is not None else getattr(args, "suite", None),
        variants=getattr(args, "variants", None),
        tasks=getattr(args, "tasks", None),
        seeds=getattr(args, "seeds", None),
        metrics=getattr(args, "metrics", None),
        reference=getattr(args, "reference", None),
        alpha=getattr(args, "alpha", 0.05),
        n_boot=getattr(args, "n_boot", 1000),
        correction=getattr(args, "correction", "holm"),
        sweep_param=getattr(args, "sweep_param", None),
        sweep_map=getattr(args, "sweep_map", None) or {},
        include_limited=getattr(args, "include_limited", False),
    )


def emit(text: str, output: str | None) -> None:
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(text, encoding="utf-8")
        print(f"wrote {output}")
    else:
        print(text, end="" if text.endswith("\n") else "\n")


# -- compare ----------------------------------------------------------------------------------------
def _fmt(x: float) -> str:
    return f"{x:.4g}" if x == x else "–"


def compare_text(frame: Any, a: str, b: str, fmt: str, correction: str = "none") -> str:
    """The comparison as a markdown table (CI and p per metric), CSV (text cells a spreadsheet would run
    as a formula escaped) or JSON records (every float at full precision)."""
    if fmt == "csv":
        from leaderboard.render import csv_safe

        text = frame.select_dtypes(include="object").columns
        safe = {c: frame[c].map(lambda v: csv_safe(v) if isinstance(v, str) else v) for c in text}
        return frame.assign(**safe).to_csv(index=False)
    if fmt == "json":
        return json.dumps(jsonable(frame.to_dict(orient="records")), indent=2, allow_nan=False) + "\n"
    from leaderboard.render import md_escape

    adjusted = "p_adjusted" in frame.columns
    lines = [
        f"| task | metric | {md_escape(a)} | {md_escape(b)} | difference | 95% CI | p |"
        + (" p adj. |" if adjusted else "")
        + " test | n | better |",
        "|---|---|---:|---:|---:|---|---:|" + ("---:|" if adjusted else "") + "---|---:|---|",
    ]
    for r in frame.itertuples(index=False):
        arrow = "↑" if r.higher_is_better else "↓"
        names = [md_escape(str(x)) for x in (r.task, f"{r.metric} {arrow}")]
        numbers = [
            _fmt(r.a),
            _fmt(r.b),
            f"{r.diff:+.4g}",
            f"[{_fmt(r.ci_low)}, {_fmt(r.ci_high)}]",
            _p(r.p_value),
        ]
        if adjusted:
            numbers.append(_p(r.p_adjusted))
        cells = [*names, *numbers, r.test, str(r.n), md_escape(r.better)]  # numbers need no escaping
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", md_escape(compare_note(len(frame), correction))]
    return "\n".join(lines) + "\n"


def _p(p: float) -> str:
    return "–" if p != p else "<0.001" if p < 0.001 else f"{p:.3f}"


def compare_note(n: int, correction: str) -> str:
    """What ``better`` means, and the multiple-comparison correction of the p-values shown."""
    from leaderboard.multiplicity import METHODS

    how = (
        f"p adj.: corrected over the {n} comparisons shown by {METHODS[correction]}"
        if correction in METHODS
        else "p-values not corrected for multiple comparisons"
    )
    return f"{how}. better: significant after correction and the paired CI excludes 0."


def cmd_compare(open_store: OpenStore, args: argparse.Namespace) -> int:
    from leaderboard.compare import compare_variants, corrected
    from leaderboard.select import select_metrics

    store = open_store(args)
    results = store.results(
        suite=args.suite, variants=[args.a, args.b], tasks=args.tasks, seeds=args.seeds,
        include_limited=args.include_limited,
    )  # fmt: skip
    if results.empty:
        raise PlanevalError(
            f"no results for {args.a!r} or {args.b!r} in this selection (suites: {', '.join(store.suites())})"
        )
    results = select_metrics(results, args.metrics)
    runs = store.runs(suite=args.suite)
    frame = compare_variants(
        results, runs, args.a, args.b, load=store.load_samples, n_boot=args.n_boot, alpha=args.alpha,
        seed=args.bootstrap_seed,
    )  # fmt: skip
    correction = getattr(args, "correction", "holm")
    frame = corrected(frame, args.a, args.b, args.alpha, correction)
    if args.format == "md":
        seeds = ", ".join(sorted(set(frame["seeds"])))
        print(f"{args.a} vs {args.b} (difference = first - second; seeds {seeds}; {args.n_boot} resamples)\n")
    emit(compare_text(frame, args.a, args.b, args.format, correction), args.output)
    return 0


# -- leaderboard --layout ---------------------------------------------------------------------------
def cmd_layout(open_store: OpenStore, args: argparse.Namespace) -> int:
    """``planeval leaderboard --layout FILE``: the paper table the layout file describes."""
    from leaderboard.paper import build, load_layout
    from leaderboard.paper_render import FORMATS, render_paper

    if args.format not in FORMATS:
        raise PlanevalError(f"--layout writes {', '.join(FORMATS)}, not --format {args.format}")
    if args.reference:
        raise PlanevalError(
            "--reference does not apply to --layout: a paper table bolds the best row only when it "
            "beats the runner-up by the paired test"
        )
    spec = load_layout(Path(args.layout))
    paper = build(open_store(args), spec, args.layout, suite=args.suite, seeds=args.seeds, n_boot=args.n_boot)
    emit(render_paper(paper, args.format), args.output)
    return 0


# -- show --json ------------------------------------------------------------------------------------
def jsonable(value: Any) -> Any:
    """Plain JSON values for ``json.dumps``: numpy scalars and arrays unwrapped (a float keeps every bit:
    json writes its ``repr``), non-finite floats as null (JSON has none), dates in ISO 8601."""
    import numpy as np

    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | str):
        return value
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def show_json(run: dict[str, Any], samples: Any, n_samples: int) -> str:
    """``planeval show RUN --json``: the run's metadata, its metrics unrounded, and the first
    ``n_samples`` rows of its per-sample table (all rows when negative; ``samples`` is null when the
    table is no longer in the cache) — one JSON document and nothing else, for scripts and checkers."""
    run = dict(run)
    metrics = run.pop("metrics", [])
    doc: dict[str, Any] = {"run": run, "metrics": metrics, "samples": None}
    if samples is not None:
        head = samples if n_samples < 0 else samples.head(n_samples)
        doc["samples"] = {
            "n_rows": len(samples),
            "columns": [str(c) for c in samples.columns],
            "rows": head.to_dict(orient="records"),
        }
    return json.dumps(jsonable(doc), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


# -- regress ----------------------------------------------------------------------------------------
def cmd_regress(open_store: OpenStore, args: argparse.Namespace) -> int:
    from leaderboard.regress import Tolerance, check, load, report_text

    baseline = load(args.baseline)
    suite = args.suite or baseline.suite
    store = open_store(args)
    results = store.results(suite=suite, include_limited=args.include_limited)
    default = None
    if args.tolerance_abs is not None or args.tolerance_rel is not None or args.tolerance_ci:
        default = Tolerance(
            absolute=args.tolerance_abs or 0.0, relative=args.tolerance_rel or 0.0, ci=args.tolerance_ci
        )
    report = check(baseline, results, default)
    if args.format == "json":
        emit(report.rows.to_json(orient="records", indent=2) + "\n", args.output)
    else:
        print(f"suite {suite}: current results vs baseline {args.baseline}\n")
        emit(report_text(report, show_all=args.all), args.output)
    failed = report.failed(allow_missing=args.allow_missing)
    if failed:
        print("planeval: regression against the baseline (see the table above)", file=sys.stderr)
    return 1 if failed else 0


# -- plot -------------------------------------------------------------------------------------------
def cmd_plot(open_store: OpenStore, home: Home, args: argparse.Namespace) -> int:
    from dataclasses import replace

    from leaderboard.outputs import build_board, plot_input
    from leaderboard.plots import make_plots, save

    store = open_store(args)
    board = build_board(store, selection(args))
    data = plot_input(board)
    data = replace(data, sweep_refs=tuple(args.ref)) if args.ref else data
    if args.kind in ("training", "all"):
        sel = board.selection
        data = replace(data, curves=store.training_curves(suite=sel.suite, variants=sel.variants))
    figures = make_plots(args.kind, data)
    if not figures:
        raise PlanevalError(
            f"nothing to draw for --kind {args.kind}: sweep needs variants with an x "
            "(--sweep-param or --sweep-map); sites needs runs whose metrics break down by site; "
            "training needs trained variants whose histories were recorded"
        )
    out = Path(args.out) if args.out else home(args) / "plots"
    for name, fig in figures:
        for path in save(fig, out / name):
            print(f"wrote {path}")
    return 0


# -- claims ---------------------------------------------------------------------------------------
def cmd_claims(open_store: OpenStore, args: argparse.Namespace) -> int:
    from leaderboard.claims import CLAIMS_FILE, build, load_claims, render_markdown, suites_summary

    claims = load_claims(Path(args.claims) if args.claims else CLAIMS_FILE)
    store = open_store(args)
    frame, n_tests = build(store, claims, alpha=args.alpha, correction=args.correction, n_boot=args.n_boot)
    text = render_markdown(frame, n_tests, args.correction, args.alpha, suites_summary(store, claims))
    emit(text, args.output)
    return 0
