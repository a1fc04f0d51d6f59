"""``planeval run SUITE``: plan, train, evaluate, record, print the table. A suite whose inputs have
not changed since a complete run is replayed from its recorded keys without importing the models."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from harness.cli.common import db, home, includes, print_table
from harness.errors import PlanevalError


def cmd_run(args: argparse.Namespace) -> int:
    from harness import replay
    from harness.tracking import ENV, tracker_names

    home_dir, url = home(args), db(args)
    log_to = tracker_names(args.log_to if args.log_to is not None else os.environ.get(ENV))
    args.include_limited = args.limit is not None  # the table below shows this run's rows
    # a replay record knows the keys of full runs only; a --limit run plans again (it is quick)
    replayable = not args.dry_run and args.limit is None and not args.output_path
    digest = replay.fingerprint(args.suite, args.include or [], home_dir, url) if replayable else None
    done = replay.replay(digest, home_dir, url)
    if done is not None:  # nothing changed since a complete run: its keys, without importing the models
        name, stages, seconds = done
        print(f"\nsuite {name}: 0 stages ran, {stages} cached, 0 failed in {seconds:.1f}s")
        print_table(args, name, fmt="md")
        return 0
    from harness.executors import check_name
    from harness.executors.profile import load_profile

    profile = load_profile(args.profile)
    executor = check_name(args.executor or profile.executor or "local",
                          "--executor" if args.executor else f"{args.profile}: executor")  # fmt: skip
    if args.limit is not None and executor != "local":  # workers re-plan from the suite file alone
        raise PlanevalError(f"--limit runs on the local executor only, not on {executor!r}")
    backend = None if executor == "local" or args.dry_run else _start(executor, profile, args)
    try:
        from harness.catalog import resolve_suite
        from harness.executors.graph import build_graph
        from harness.runner import Runner, plan_suite

        includes(args)
        suite, source = resolve_suite(args.suite)
        plan = plan_suite(suite, source, limit=args.limit)  # validates everything first
        graph = build_graph(plan, profile.resources)  # and the resource requests
        runner = Runner(home(args), db(args), progress=not args.no_progress, log_to=log_to)
        if args.dry_run:
            from harness.executors.estimate import recorded_runs, report

            print(runner.describe(plan))
            pending = {s.id for s in graph.values() if not runner.cache.inspect(s.dir, s.key).ok}
            print(report(graph, pending, recorded_runs(runner.db_url)))
            return 0
        if backend is None:
            summary = runner.run(plan)
        else:
            from harness.executors import dag

            retries = profile.retries if args.retries is None else args.retries
            summary = dag.run(runner, plan, backend[0], backend[1], retries, graph)
    finally:
        if backend is not None:
            backend[0].close()
    replay.remember(digest, home_dir, plan, summary)
    print(
        f"\nsuite {suite.name}: {len(summary.ran)} stages ran, {len(summary.cached)} cached, "
        f"{len(summary.failed)} failed in {summary.seconds:.1f}s"
    )
    try:
        print_table(args, suite.name, fmt="md")
    except PlanevalError as exc:  # e.g. every stage failed: the failures below are the news
        print(f"(no table: {exc})")
    if args.output_path:
        _export(args, plan)
    for f in summary.failed:
        print(f"FAILED: {f}", file=sys.stderr)
    return 1 if summary.failed else 0


def _export(args: argparse.Namespace, plan: Any) -> None:
    """The plan's successful runs as ``planeval export`` writes them (lm-eval's result files)."""
    from pathlib import Path

    from leaderboard.export import export
    from leaderboard.store import Store

    store = Store(db(args))
    try:
        runs = [store.get_run(e.run_id) for e in plan.evals if store.has_run(e.run_id)]
        for path in export(store, runs, Path(args.output_path), args.log_samples):
            print(f"wrote {path}")
    finally:
        store.close()


def _start(executor: str, profile: Any, args: argparse.Namespace) -> tuple[Any, Any]:
    """The back end and the template of its jobs, started before planning so that its workers' start-up
    overlaps this process's planning."""
    from harness.executors import make_executor
    from harness.executors.worker import JobTemplate

    suite = str(Path(args.suite).resolve()) if Path(args.suite).is_file() else args.suite
    template = JobTemplate(suite, tuple(str(Path(d).resolve()) for d in args.include or []))
    return make_executor(executor, profile, home(args), template), template


def add(sub: argparse._SubParsersAction, common: argparse.ArgumentParser, help: str) -> None:
    from harness.catalog import DEFAULT_SUITE  # the catalogue (pydantic, YAML) only for this command

    p = sub.add_parser(
        "run",
        parents=[common],
        help=help,
        description="Run a suite by name or YAML path; cached stages are skipped.",
    )
    p.add_argument(
        "suite", nargs="?", default=DEFAULT_SUITE, help=f"suite name or file (default {DEFAULT_SUITE})"
    )
    p.add_argument("--dry-run", action="store_true", help="print the stage plan and what is cached")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument(
        "--log-to",
        metavar="TRACKERS",
        help="also log what trains and evaluates to these experiment trackers, comma-separated: wandb, "
        "mlflow (default: $PLANEVAL_LOG_TO; see docs/tracking.md)",
    )
    p.add_argument(
        "--limit",
        type=_positive,
        metavar="N",
        help="evaluate at most N items per task (a seeded subset): a quick look, recorded as such and left "
        "out of tables, compare and regress unless --include-limited",
    )
    p.add_argument(
        "--output-path",
        metavar="DIR",
        help="afterwards write the runs as lm-eval result files, as 'planeval export' does (docs/interop.md)",
    )
    p.add_argument("--log-samples", action="store_true", help="with --output-path: the per-sample files too")
    p.add_argument(
        "--executor",
        help="where the stages run: local (default, in turn, in this process), local-parallel, slurm, ray",
    )
    p.add_argument(
        "--profile",
        metavar="FILE",
        help="YAML with the back end's options (executor, retries, resources, slurm: partition/account/"
        "qos, ray: address)",
    )
    p.add_argument(
        "--retries", type=int, help="attempts after a stage's first failure (default: profile's, 1)"
    )
    p.set_defaults(func=cmd_run)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return int(text)
