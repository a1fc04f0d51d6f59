"""``planeval plot``: leaderboard figures (the command is ``leaderboard.commands.cmd_plot``; this
module is its options). The plotting stack is imported only for this command."""

from __future__ import annotations

import argparse
from functools import partial

from harness.cli.common import home, open_store
from harness.cli.options import add_selection_args, add_sweep_args


def add(sub: argparse._SubParsersAction, common: argparse.ArgumentParser, help: str) -> None:
    from leaderboard.commands import cmd_plot
    from leaderboard.plots import PLOTS

    p = sub.add_parser(
        "plot",
        parents=[common],
        help=help,
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
