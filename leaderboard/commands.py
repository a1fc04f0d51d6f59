"""The leaderboard's command-line verbs: ``compare``, ``regress`` and ``plot``, plus the selection options
``leaderboard`` shares with them and ``show --json``. ``harness.cli`` mounts them with ``add_commands``, so
the leaderboard's options live next to the code they drive.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import PlanevalError

if TYPE_CHECKING:
    from leaderboard.outputs import Selection

OpenStore = Callable[[argparse.Namespace], Any]
Home = Callable[[argparse.Namespace], Path]
TABLE_FORMATS = ("md", "csv", "json")


# -- shared options ---------------------------------------------------------------------------------
def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _ints(text: str) -> list[int]:
    try:
        return [int(t) for t in _names(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def parse_map(text: str) -> dict[str, float]:
    """``name=value,name=value`` → {name: value} (``--sweep-map``)."""
    out: dict[str, float] = {}
    for item in _names(text):
        name, sep, value = item.rpartition("=")
        try:
            if not sep or not name:
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected name=number pairs, got {item!r}") from None
    return out


def add_selection_args(p: argparse.ArgumentParser, metrics_help: str | None = None) -> None:
    p.add_argument("--suite", help="only this suite")
    p.add_argument("--variants", type=_names, help="comma-separated variant names (default: all)")
    p.add_argument("--tasks", type=_names, help="comma-separated task labels (default: all)")
    p.add_argument("--seeds", type=_ints, help="comma-separated seeds (default: all)")
    p.add_argument(
        "--metrics",
        help=metrics_help
        or "comma-separated glob patterns on metric or task/metric names, or 'all' "
        "(default: all but per-length breakdowns such as rouge1@64)",
    )


def add_sweep_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--sweep-param",
        metavar="PARAM",
        help="trainer parameter of the variants that holds the fraction q of planner-predicted actions "
        "(default: read q from names oracle-mix-<percent>)",
    )
    p.add_argument(
        "--sweep-map",
        type=parse_map,
        default={},
        metavar="V=Q,...",
        help="explicit q per variant for the sweep",
    )


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


def compare_text(frame: Any, a: str, b: str, fmt: str) -> str:
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

    lines = [
        f"| task | metric | {md_escape(a)} | {md_escape(b)} | difference | 95% CI | p | test | n | better |",
        "|---|---|---:|---:|---:|---|---:|---|---:|---|",
    ]
    for r in frame.itertuples(index=False):
        arrow = "↑" if r.higher_is_better else "↓"
        p = "<0.001" if r.p_value < 0.001 else f"{r.p_value:.3f}"
        names = [md_escape(str(x)) for x in (r.task, f"{r.metric} {arrow}")]
        numbers = [_fmt(r.a), _fmt(r.b), f"{r.diff:+.4g}", f"[{_fmt(r.ci_low)}, {_fmt(r.ci_high)}]", p]
        cells = [*names, *numbers, r.test, str(r.n), md_escape(r.better)]  # numbers need no escaping
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def cmd_compare(open_store: OpenStore, args: argparse.Namespace) -> int:
    from leaderboard.compare import compare_variants
    from leaderboard.select import select_metrics

    store = open_store(args)
    results = store.results(suite=args.suite, variants=[args.a, args.b], tasks=args.tasks, seeds=args.seeds)
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
    if args.format == "md":
        seeds = ", ".join(sorted(set(frame["seeds"])))
        print(f"{args.a} vs {args.b} (difference = first - second; seeds {seeds}; {args.n_boot} resamples)\n")
    emit(compare_text(frame, args.a, args.b, args.format), args.output)
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
    results = store.results(suite=suite)
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
    from leaderboard.plots import DEFAULT_SWEEP_REFS, make_plots, save

    store = open_store(args)
    board = build_board(store, selection(args))
    data = plot_input(board)
    data = replace(data, sweep_refs=tuple(args.ref) if args.ref else DEFAULT_SWEEP_REFS)
    figures = make_plots(args.kind, data)
    if not figures:
        raise PlanevalError(
            f"nothing to draw for --kind {args.kind}: sweep needs variants with a fraction q "
            "(oracle-mix-<percent>, --sweep-param or --sweep-map); probes need runs of the probes task"
        )
    out = Path(args.out) if args.out else home(args) / "plots"
    for name, fig in figures:
        for path in save(fig, out / name):
            print(f"wrote {path}")
    return 0


# -- mounting ---------------------------------------------------------------------------------------
def cmd_claims(open_store: OpenStore, args: argparse.Namespace) -> int:
    from leaderboard.claims import CLAIMS_FILE, build, load_claims, render_markdown

    claims = load_claims(Path(args.claims) if args.claims else CLAIMS_FILE)
    frame, n_tests = build(
        open_store(args), claims, alpha=args.alpha, correction=args.correction, n_boot=args.n_boot
    )
    emit(render_markdown(frame, n_tests, args.correction, args.alpha), args.output)
    return 0


def add_commands(
    sub: argparse._SubParsersAction, common: argparse.ArgumentParser, open_store: OpenStore, home: Home
) -> None:
    """Register ``compare``, ``regress``, ``plot`` and ``claims`` on the planeval command line."""
    p = sub.add_parser(
        "claims",
        parents=[common],
        help="the claims table: which of the seed papers' findings the leaderboard reproduces",
        description="Each finding of leaderboard/claims.yaml (or --claims FILE) as paired comparisons of "
        "leaderboard rows, p-values corrected together (Holm by default), a verdict with its reason.",
    )
    p.add_argument("--claims", help="a claims YAML (default: the bundled leaderboard/claims.yaml)")
    p.add_argument("--correction", default="holm", choices=["holm", "bh"], help="multiple-comparison "
                   "correction: holm (family-wise error) or bh (false discovery rate)")  # fmt: skip
    p.add_argument("--alpha", type=float, default=0.05, help="significance level (0.05)")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples and permutations (1000)")
    p.add_argument("--output", "-o", help="write to this file (e.g. docs/claims.md) instead of stdout")
    p.set_defaults(func=partial(cmd_claims, open_store))

    p = sub.add_parser(
        "compare",
        parents=[common],
        help="paired comparison of two variants (difference, CI, p-value per metric)",
        description="Compare variant A with B on the samples both were scored on: per metric the "
        "difference A - B, its paired-bootstrap CI, and a p-value (McNemar for 0/1 accuracies, a paired "
        "permutation test otherwise). Several seeds are pooled as (seed, sample) pairs.",
    )
    p.add_argument("a", help="first variant")
    p.add_argument("b", help="second variant")
    p.add_argument("--suite", help="the suite (needed when both variants ran in several)")
    p.add_argument("--task", dest="tasks", action="append", help="only this task label (repeatable)")
    p.add_argument("--seed", dest="seeds", type=int, action="append", help="only this seed (repeatable)")
    p.add_argument("--metrics", help="glob patterns on metric names, or 'all' (default: no @ breakdowns)")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples and permutations (1000)")
    p.add_argument("--alpha", type=float, default=0.05, help="1 - CI level and significance level (0.05)")
    p.add_argument("--bootstrap-seed", type=int, default=0, help="seed of the resampling (0)")
    p.add_argument("--format", default="md", choices=TABLE_FORMATS, help="output format (default md)")
    p.add_argument("--output", "-o", help="write to this file instead of stdout")
    p.set_defaults(func=partial(cmd_compare, open_store))

    p = sub.add_parser(
        "regress",
        parents=[common],
        help="check current results against a baseline snapshot; exit 1 on a regression",
        description="Compare the leaderboard with a snapshot written by 'planeval leaderboard --format "
        "baseline'. A metric regresses when it moves in its worse direction by more than its tolerance "
        "(the largest of: absolute, relative x baseline, the baseline CI's reach with --tolerance-ci). "
        "The tolerance flags replace the file's default; per-metric tolerances in the file still apply.",
    )
    p.add_argument("--baseline", required=True, help="the snapshot (JSON, or YAML read with safe_load)")
    p.add_argument("--suite", help="suite to check (default: the baseline's)")
    p.add_argument("--tolerance-abs", type=float, metavar="X", help="allowed worse move in metric units")
    p.add_argument("--tolerance-rel", type=float, metavar="X", help="allowed worse move as a fraction")
    p.add_argument("--tolerance-ci", action="store_true", help="allow moves that stay inside the baseline CI")
    p.add_argument("--allow-missing", action="store_true", help="a metric absent now is not a failure")
    p.add_argument("--all", action="store_true", help="list every metric, not only those that moved")
    p.add_argument("--format", default="md", choices=("md", "json"), help="report format (default md)")
    p.add_argument("--output", "-o", help="write the report to this file")
    p.set_defaults(func=partial(cmd_regress, open_store))

    from leaderboard.plots import PLOTS

    p = sub.add_parser(
        "plot",
        parents=[common],
        help="draw leaderboard plots (PNG + SVG)",
        description="Metric bars with intervals per variant, the oracle/predicted trade-off sweep, and "
        "probing curves when probe runs exist.",
    )
    add_selection_args(p)
    p.add_argument("--kind", default="all", choices=[*sorted(PLOTS), "all"], help="which plots (default all)")
    p.add_argument("--out", help="folder for the files (default <home>/plots)")
    add_sweep_args(p)
    p.add_argument(
        "--ref", action="append", help="variant drawn as a reference line in the sweep (repeatable)"
    )
    p.set_defaults(func=partial(cmd_plot, open_store, home))
