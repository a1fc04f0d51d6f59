"""``planeval import-lm-eval RESULTS.json [SAMPLES.jsonl ...]``: lm-eval's results recorded in the
leaderboard, marked as imported (the logic is ``leaderboard.import_lm_eval``; this module is its options)."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli.common import db


def cmd_import(args: argparse.Namespace) -> int:
    from leaderboard.import_lm_eval import import_files
    from leaderboard.store import Store

    store = Store(db(args))  # a new board is fine: importing is a way to start one
    try:
        runs = import_files(
            store, Path(args.results), [Path(p) for p in args.samples], args.suite, args.variant
        )
    finally:
        store.close()
    for run in runs:
        print(f"{run.run_id}  {run.suite}/{run.variant}/{run.task}")
    return 0


def add(sub: argparse._SubParsersAction, common: argparse.ArgumentParser, help: str) -> None:
    from leaderboard.import_lm_eval import SUITE

    p = sub.add_parser(
        "import-lm-eval",
        parents=[common],
        help=help,
        description="Record an lm-eval results JSON (and its samples_<task>_<date>.jsonl files) in the "
        "leaderboard: one run per task, family lm-eval, marked as imported (docs/interop.md).",
    )
    p.add_argument("results", help="lm-eval's results_<date>.json")
    p.add_argument("samples", nargs="*", help="lm-eval's samples_<task>_<date>.jsonl files")
    p.add_argument("--suite", default=SUITE, help=f"the suite to record the runs under (default {SUITE})")
    p.add_argument("--variant", help="the row label (default: lm-eval's model_name)")
    p.set_defaults(func=cmd_import)
