"""The ``planeval`` command line: one module per subcommand under ``harness/cli/``, one table below.

``COMMANDS`` names each subcommand's module and its one-line help. Only the module of the command being
run is imported (the others appear in ``planeval --help`` from the table alone), so ``planeval --help``,
``show`` or a replayed ``run`` never import the plotting or model stack. Nothing below the CLI imports
it: the runner, the leaderboard and the lm-eval bridge are called from here, never the other way.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from harness.cli.common import common_parser
from harness.errors import PlanevalError


class Command(NamedTuple):
    #: the module under harness.cli that defines ``add(sub, common, help)`` (``list_``: not a builtin's name)
    module: str
    help: str


#: every subcommand, in the order ``planeval --help`` lists them
COMMANDS: dict[str, Command] = {
    "run": Command("run", "run a suite (train, evaluate, write the leaderboard)"),
    "list": Command("list_", "list registered tasks, variants, suites or trainers"),
    "leaderboard": Command("leaderboard", "print the comparison table"),
    "show": Command("show", "one run's metadata and per-sample details"),
    "score": Command("score", "re-score stored runs with changed metric params, without the model"),
    "lm-eval": Command(
        "lm_eval", "lm-eval's command line with planeval models registered (--model planeval)"
    ),
    "claims": Command(
        "claims", "the claims table: which of the seed papers' findings the leaderboard reproduces"
    ),
    "compare": Command("compare", "paired comparison of two variants (difference, CI, p-value per metric)"),
    "regress": Command(
        "regress", "check current results against a baseline snapshot; exit 1 on a regression"
    ),
    "plot": Command("plot", "draw leaderboard plots (PNG + SVG)"),
    "export": Command("export", "write runs as lm-eval results JSON and samples files"),
    "import-lm-eval": Command(
        "import_lm_eval", "record an lm-eval results JSON in the leaderboard (as imported)"
    ),
    "cache": Command("cache", "verify the cache's digests or free what nothing needs"),
    "status": Command("status", "where a suite running elsewhere stands: stages done, running, failed, ETA"),
}


def _chosen(argv: Sequence[str]) -> str | None:
    """The subcommand named on the command line (the first word that is not an option), if any."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser with every subcommand's options, or — with ``only`` — that one's options and the
    others as names with their help (enough for ``--help`` and for argparse's "invalid choice")."""
    common = common_parser()
    parser = argparse.ArgumentParser(
        prog="planeval",
        description="Evaluate and benchmark language models that plan.",
        epilog="Common options (--home, --db, --include) go after the command: planeval run --home DIR",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in COMMANDS.items():
        if only is None or name == only:
            importlib.import_module(f"harness.cli.{command.module}").add(sub, common, command.help)
        else:
            sub.add_parser(name, help=command.help)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from harness.threads import passive_waits

    passive_waits()  # before anything loads torch's OpenMP: idle threads sleep, never spin
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s [%(name)s] %(message)s")
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = _chosen(argv)
    parser = build_parser(chosen if chosen in COMMANDS else "")
    args = parser.parse_args(argv)
    if getattr(args, "data_dir", None):  # data:<path> in any spec this process reads
        os.environ["PLANEVAL_DATA"] = str(Path(args.data_dir).expanduser().resolve())
    try:
        return int(args.func(args) or 0)
    except PlanevalError as exc:
        print(f"planeval: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("planeval: interrupted; finished stages are cached, re-run to resume", file=sys.stderr)
        return 130
