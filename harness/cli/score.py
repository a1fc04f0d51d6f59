"""``planeval score``: re-score stored runs with changed scoring params, without loading a model
(the work is ``leaderboard.rescore``; docs/score.md)."""

from __future__ import annotations

import argparse

from harness.cli.common import open_store
from harness.cli.options import ints, names
from harness.errors import PlanevalError


def cmd_score(args: argparse.Namespace) -> int:
    from leaderboard.rescore import parse_sets, report, rescore_runs, selected_runs

    changes = parse_sets(args.set)
    store = open_store(args)
    if args.run_id:
        run_ids = [args.run_id]
    elif any(x is not None for x in (args.suite, args.variants, args.tasks, args.seeds)):
        run_ids = selected_runs(store, args.suite, args.variants, args.tasks, args.seeds)
        if not run_ids:
            raise PlanevalError("score: no run in this selection (see planeval leaderboard)")
    else:
        raise PlanevalError("score: name a RUN_ID or select runs with --suite, --variants, --tasks, --seeds")
    print("\n\n".join(report(r) for r in rescore_runs(store, run_ids, changes, args.label, args.samples)))
    return 0


def add(sub: argparse._SubParsersAction, common: argparse.ArgumentParser, help: str) -> None:
    p = sub.add_parser(
        "score",
        parents=[common],
        help=help,
        description="Recompute a stored run's metrics (and bootstrap CIs) from its per-sample table in the "
        "leaderboard database, with the task's scoring under changed params; no model is loaded. Only a "
        "task's aggregation and per-sample scoring params may change (see docs/score.md); each result is "
        "a new run row linked to its source, which the leaderboard and 'show' then read.",
    )
    p.add_argument(
        "run_id", nargs="?", help="the run (a unique prefix is enough); or select with the options"
    )
    p.add_argument(
        "--set",
        action="append",
        metavar="PARAM=VALUE",
        help="a changed task param, its value read as YAML, e.g. rouge_types=[rouge1] (repeatable)",
    )
    p.add_argument(
        "--samples",
        action="store_true",
        help="score every stored sample again with the task's current per-sample function (from its "
        "stored outputs and references), not only the aggregation",
    )
    p.add_argument("--suite", help="re-score the current runs of this suite")
    p.add_argument("--variants", type=names, help="comma-separated variant names")
    p.add_argument("--tasks", type=names, help="comma-separated task labels")
    p.add_argument("--seeds", type=ints, help="comma-separated seeds")
    p.add_argument(
        "--as",
        dest="label",
        metavar="LABEL",
        help="record under this task label, beside the source (default: the source's label, replacing "
        "it on the leaderboard as the newest run)",
    )
    p.set_defaults(func=cmd_score)
