"""``planeval claims``: the seed papers' findings as corrected paired comparisons of leaderboard rows
(the command is ``leaderboard.commands.cmd_claims``; this module is its options)."""

from __future__ import annotations

import argparse
from functools import partial

from harness.cli.common import open_store


def add(sub: argparse._SubParsersAction, common: argparse.ArgumentParser, help: str) -> None:
    from leaderboard.commands import cmd_claims

    p = sub.add_parser(
        "claims",
        parents=[common],
        help=help,
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
