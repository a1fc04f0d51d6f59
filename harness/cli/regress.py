"""``planeval regress --baseline FILE``: the leaderboard against a snapshot, exit 1 on a regression
(the command is ``leaderboard.commands.cmd_regress``; this module is its options)."""

from __future__ import annotations

import argparse
from functools import partial

from harness.cli.common import open_store
from harness.cli.options import add_limited_arg


def add(sub: argparse._SubParsersAction, common: argparse.ArgumentParser, help: str) -> None:
    from leaderboard.commands import cmd_regress

    p = sub.add_parser(
        "regress",
        parents=[common],
        help=help,
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
    add_limited_arg(p)
    p.add_argument("--format", default="md", choices=("md", "json"), help="report format (default md)")
    p.add_argument("--output", "-o", help="write the report to this file")
    p.set_defaults(func=partial(cmd_regress, open_store))
