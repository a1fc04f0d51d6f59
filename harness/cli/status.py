"""``planeval status SUITE``: the stages of a suite that runs elsewhere — done, running (and by whom),
failed, queued — and an ETA, from the shared home and leaderboard (``harness.executors.status``)."""

from __future__ import annotations

import argparse

from harness.cli.common import db, home, includes


def cmd_status(args: argparse.Namespace) -> int:
    from harness.cache import Cache
    from harness.catalog import resolve_suite
    from harness.executors.estimate import recorded_runs
    from harness.executors.graph import build_graph
    from harness.executors.status import failed_runs, report, stage_states
    from harness.runner import plan_suite

    includes(args)
    suite, source = resolve_suite(args.suite)
    stages = build_graph(plan_suite(suite, source))
    runs = recorded_runs(db(args))
    states = stage_states(stages, Cache(home(args) / "cache"), failed_runs(db(args)))
    print(f"suite {suite.name} ({source}): " + report(states, runs))
    return 0


def add(sub: argparse._SubParsersAction, common: argparse.ArgumentParser, help: str) -> None:
    p = sub.add_parser(
        "status",
        parents=[common],
        help=help,
        description="Where a suite stands, read from its home and leaderboard (it may run elsewhere: "
        "another process, Slurm, Ray): stages done, running (with the builder's host and pid), failed and "
        "queued, and an estimated time to finish. Changes nothing.",
    )
    p.add_argument("suite", help="suite name or file")
    p.set_defaults(func=cmd_status)
