"""``planeval export RUN ...|--suite S --output-path DIR [--log-samples]``: leaderboard runs as
lm-evaluation-harness result files (the logic is ``leaderboard.export``; this module is its options)."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli.common import open_store


def cmd_export(args: argparse.Namespace) -> int:
    from leaderboard.export import export, select_runs

    store = open_store(args)
    try:
        runs = select_runs(store, args.run_ids, args.suite)
        for path in export(store, runs, Path(args.output_path), args.log_samples):
            print(path)
    finally:
        store.close()
    return 0


def add(sub: argparse._SubParsersAction, common: argparse.ArgumentParser, help: str) -> None:
    p = sub.add_parser(
        "export",
        parents=[common],
        help=help,
        description="Write runs from the leaderboard database as lm-eval writes its results: per model "
        "(variant at a seed) DIR/<model>/results_<date>.json with lm-eval's keys plus planeval's own "
        "(eval keys, CIs), and with --log-samples samples_<task>_<date>.jsonl per task (docs/interop.md).",
    )
    p.add_argument("run_ids", nargs="*", metavar="RUN", help="run ids or unique prefixes")
    p.add_argument("--suite", help="export the newest run of every (variant, task, seed) of this suite")
    p.add_argument("--output-path", required=True, help="the folder to write into (lm-eval's --output_path)")
    p.add_argument(
        "--log-samples", action="store_true", help="also write the per-sample files (lm-eval's --log_samples)"
    )
    p.set_defaults(func=cmd_export)
