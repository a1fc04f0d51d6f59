"""The ``planeval`` command line: run suites, list what is registered, print the leaderboard."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.errors import PlanevalError

DEFAULT_SUITE = "smoke"


def _home(args: argparse.Namespace) -> Path:
    return Path(args.home or os.environ.get("PLANEVAL_HOME") or ".planeval")


def _db(args: argparse.Namespace) -> str:
    return args.db or os.environ.get("PLANEVAL_DB") or f"sqlite:///{_home(args) / 'leaderboard.db'}"


def _includes(args: argparse.Namespace) -> None:
    from harness.catalog import include_dir

    for d in args.include or []:
        include_dir(Path(d))


def _open_store(args: argparse.Namespace):
    from leaderboard.store import Store

    url = _db(args)
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).exists():
        raise PlanevalError(f"no leaderboard at {url}: run a suite first (planeval run)")
    return Store(url)


# -- commands ---------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from harness import replay

    home, db = _home(args), _db(args)
    digest = None if args.dry_run else replay.fingerprint(args.suite, args.include or [], home, db)
    done = replay.replay(digest, home, db)
    if done is not None:  # nothing changed since a complete run: its keys, without importing the models
        name, stages, seconds = done
        print(f"\nsuite {name}: 0 stages ran, {stages} cached, 0 failed in {seconds:.1f}s")
        _print_table(args, name, fmt="md")
        return 0
    from harness.catalog import resolve_suite
    from harness.runner import Runner, plan_suite

    _includes(args)
    suite, source = resolve_suite(args.suite)
    plan = plan_suite(suite, source)  # validates everything before anything is written
    runner = Runner(_home(args), _db(args), progress=not args.no_progress)
    if args.dry_run:
        print(runner.describe(plan))
        return 0
    summary = runner.run(plan)
    replay.remember(digest, home, plan, summary)
    print(
        f"\nsuite {suite.name}: {len(summary.ran)} stages ran, {len(summary.cached)} cached, "
        f"{len(summary.failed)} failed in {summary.seconds:.1f}s"
    )
    try:
        _print_table(args, suite.name, fmt="md")
    except PlanevalError as exc:  # e.g. every stage failed: the failures below are the news
        print(f"(no table: {exc})")
    for f in summary.failed:
        print(f"FAILED: {f}", file=sys.stderr)
    return 1 if summary.failed else 0


def _print_table(args: argparse.Namespace, suite: str | None, fmt: str, output: str | None = None) -> None:
    """The leaderboard of the selection in ``args`` (suite, variants, tasks, seeds, metrics, reference)."""
    from leaderboard.commands import emit, selection
    from leaderboard.outputs import build_board, write

    emit(write(fmt, build_board(_open_store(args), selection(args, suite=suite), fmt)), output)


def cmd_list(args: argparse.Namespace) -> int:
    from harness.catalog import SUITES, VARIANTS
    from tasks.base import TASKS
    from trainers.base import TRAINERS

    _includes(args)
    if args.what == "tasks":
        for name, cls in TASKS.items():
            doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
            metrics = ", ".join(
                f"{m}{'↑' if info.higher_is_better else '↓'}" for m, info in cls.metrics.items()
            )
            print(f"{name:<16} {doc}  [{metrics}]")
    elif args.what == "variants":
        for name, spec in VARIANTS.items():
            print(f"{name:<28} {spec.family:<16} trainer={spec.trainer:<14} {spec.description}")
    elif args.what == "suites":
        for name, spec in SUITES.items():
            tasks = ", ".join(t.label for t in spec.tasks)
            print(f"{name:<16} {len(spec.variants)} variants × [{tasks}]  {spec.description}")
    elif args.what == "trainers":
        for name, cls in TRAINERS.items():
            doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
            print(f"{name:<16} {doc}")
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    _print_table(args, args.suite, args.format, args.output)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    store = _open_store(args)
    run = store.get_run(args.run_id)
    if args.json:
        from leaderboard.commands import show_json

        print(show_json(run, store.load_samples(run), args.samples), end="")
        return 0
    metrics = run.pop("metrics", [])
    print(json.dumps(run, indent=2, default=str))
    print("\nmetrics:")
    for m in metrics:
        ci = f" [{m['ci_low']:.4g}, {m['ci_high']:.4g}]" if m.get("ci_low") is not None else ""
        print(f"  {m['name']:<20} {m['value']:.6g}{ci}  n={m['n']}")
    samples = store.load_samples(run)
    if samples is None:
        print("\n(no per-sample table: recorded before tables were stored, and its cache file is gone)")
    else:
        head = samples.head(args.samples).copy()
        for col in head.columns:
            head[col] = head[col].map(
                lambda v: v if not isinstance(v, str) or len(v) <= 60 else v[:57] + "..."
            )
        print(f"\nper-sample details ({len(samples)} rows; first {len(head)}):")
        print(head.to_string(index=False))
    return 0


def cmd_lm_eval(args: argparse.Namespace) -> int:
    """``planeval lm-eval ARGS`` = ``lm_eval ARGS`` with the ``planeval`` model registered."""
    from harness.lm_eval_bridge import main as lm_eval_main

    return lm_eval_main(args.lm_eval_args)


# -- parser -----------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from leaderboard.commands import add_commands, add_selection_args, add_sweep_args
    from leaderboard.outputs import formats

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--home", help="cache and leaderboard folder (env PLANEVAL_HOME; default ./.planeval)"
    )
    common.add_argument("--db", help="leaderboard SQL URL (env PLANEVAL_DB; default sqlite in --home)")
    common.add_argument(
        "--include",
        action="append",
        metavar="DIR",
        help="a folder of variant/suite YAML to register (repeatable)",
    )

    parser = argparse.ArgumentParser(
        prog="planeval",
        description="Evaluate and benchmark language models that plan.",
        epilog="Common options (--home, --db, --include) go after the command: planeval run --home DIR",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "run",
        parents=[common],
        help="run a suite (train, evaluate, write the leaderboard)",
        description="Run a suite by name or YAML path; cached stages are skipped.",
    )
    p.add_argument(
        "suite", nargs="?", default=DEFAULT_SUITE, help=f"suite name or file (default {DEFAULT_SUITE})"
    )
    p.add_argument("--dry-run", action="store_true", help="print the stage plan and what is cached")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "list",
        parents=[common],
        help="list registered tasks, variants, suites or trainers",
        description="List what is registered (built-ins, entry points and --include).",
    )
    p.add_argument("what", choices=["tasks", "variants", "suites", "trainers"])
    p.set_defaults(func=cmd_list)

    p = sub.add_parser(
        "leaderboard",
        parents=[common],
        help="print the comparison table",
        description="Variants × metrics from the leaderboard store: a table (md, csv, latex, "
        "latex-shaded, json), the self-contained web page (html) or a snapshot for 'planeval regress' "
        "(baseline, baseline-yaml; these keep every metric unless --metrics says otherwise).",
    )
    add_selection_args(p)
    p.add_argument("--format", default="md", choices=formats(), help="output format (default md)")
    p.add_argument("--output", "-o", help="write to this file instead of stdout")
    p.add_argument(
        "--reference", metavar="VARIANT", help="mark cells that differ significantly from this row"
    )
    p.add_argument("--alpha", type=float, default=0.05, help="significance level of the marks (0.05)")
    p.add_argument(
        "--correction",
        default="holm",
        choices=["holm", "bh", "none"],
        help="multiple-comparison correction of the --reference marks (holm: family-wise; bh: FDR)",
    )
    p.add_argument("--n-boot", type=int, default=1000, help="permutations per significance test (1000)")
    add_sweep_args(p)
    p.set_defaults(func=cmd_leaderboard)

    p = sub.add_parser(
        "show",
        parents=[common],
        help="one run's metadata and per-sample details",
        description="Show a leaderboard run by id (a unique prefix is enough).",
    )
    p.add_argument("run_id")
    p.add_argument("--samples", type=int, default=10, help="how many sample rows to print")
    p.add_argument(
        "--json",
        action="store_true",
        help="print only JSON: metadata, metrics at full precision, --samples rows (-1: all)",
    )
    p.set_defaults(func=cmd_show)

    # everything after 'lm-eval' goes to lm-eval untouched ('+' prefix: '--model' is not ours to parse)
    p = sub.add_parser(
        "lm-eval",
        add_help=False,
        prefix_chars="+",
        help="lm-eval's command line with planeval models registered (--model planeval)",
        description="lm-eval's CLI; --model_args variant=V,suite=S,home=DIR,seed=N | path=DIR | hf=NAME",
    )
    p.add_argument("lm_eval_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_lm_eval)

    add_commands(sub, common, _open_store, _home)  # compare, regress, plot
    from harness.cache_cli import add_cache_command

    add_cache_command(sub, common, _home)  # cache verify | gc
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from harness.threads import passive_waits

    passive_waits()  # before anything loads torch's OpenMP: idle threads sleep, never spin
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s [%(name)s] %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except PlanevalError as exc:
        print(f"planeval: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("planeval: interrupted; finished stages are cached, re-run to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
