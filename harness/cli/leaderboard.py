"""``planeval leaderboard``: variants × metrics of a selection, as a table, the web page or a
regression baseline."""

from __future__ import annotations

import argparse

from harness.cli.common import print_table
from harness.cli.options import add_selection_args, add_sweep_args


def cmd_leaderboard(args: argparse.Namespace) -> int:
    if args.layout:
        from harness.cli.common import open_store
        from leaderboard.commands import cmd_layout

        return cmd_layout(open_store, args)
    print_table(args, args.suite, args.format, args.output)
    return 0


def add(sub: argparse._SubParsersAction, common: argparse.ArgumentParser, help: str) -> None:
    from leaderboard.outputs import formats

    p = sub.add_parser(
        "leaderboard",
        parents=[common],
        help=help,
        description="Variants × metrics from the leaderboard store: a table (md, csv, latex, "
        "latex-shaded, json), the self-contained web page (html) or a snapshot for 'planeval regress' "
        "(baseline, baseline-yaml; these keep every metric unless --metrics says otherwise).",
    )
    add_selection_args(p)
    p.add_argument("--format", default="md", choices=formats(), help="output format (default md)")
    p.add_argument("--output", "-o", help="write to this file instead of stdout")
    p.add_argument(
        "--layout",
        metavar="FILE.yaml",
        help="a paper table: rows grouped, chosen metrics with display names, blocks per suite, bold only "
        "when significantly better than the runner-up (formats md, latex, html; docs/leaderboard.md)",
    )
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
