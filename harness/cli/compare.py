"""``planeval compare A B``: the paired comparison of two variants (the command is
``leaderboard.commands.cmd_compare``; this module is its options)."""

from __future__ import annotations

import argparse
from functools import partial

from harness.cli.common import open_store
from harness.cli.options import add_limited_arg


def add(sub: argparse._SubParsersAction, common: argparse.ArgumentParser, help: str) -> None:
    from leaderboard.commands import TABLE_FORMATS, cmd_compare

    p = sub.add_parser(
        "compare",
        parents=[common],
        help=help,
        description="Compare variant A with B on the samples both were scored on: per metric the "
        "difference A - B, its paired-bootstrap CI, and a p-value (McNemar for 0/1 accuracies, a paired "
        "permutation test otherwise), corrected over the metrics shown (Holm by default); a winner only "
        "where the corrected p < alpha and the CI excludes 0. Seeds are pooled as (seed, sample) pairs.",
    )
    p.add_argument("a", help="first variant")
    p.add_argument("b", help="second variant")
    p.add_argument("--suite", help="the suite (needed when both variants ran in several)")
    p.add_argument("--task", dest="tasks", action="append", help="only this task label (repeatable)")
    p.add_argument("--seed", dest="seeds", type=int, action="append", help="only this seed (repeatable)")
    p.add_argument("--metrics", help="glob patterns on metric names, or 'all' (default: no @ breakdowns)")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples and permutations (1000)")
    p.add_argument("--alpha", type=float, default=0.05, help="1 - CI level and significance level (0.05)")
    p.add_argument(
        "--correction",
        default="holm",
        choices=["holm", "bh", "none"],
        help="multiple-comparison correction over the metrics shown (holm: family-wise; bh: FDR)",
    )
    p.add_argument("--bootstrap-seed", type=int, default=0, help="seed of the resampling (0)")
    add_limited_arg(p)
    p.add_argument("--format", default="md", choices=TABLE_FORMATS, help="output format (default md)")
    p.add_argument("--output", "-o", help="write to this file instead of stdout")
    p.set_defaults(func=partial(cmd_compare, open_store))
