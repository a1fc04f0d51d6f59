"""What every subcommand shares: the --home / --db / --include options and how they resolve, the store,
and the leaderboard table that ``run`` and ``leaderboard`` both print. Imports nothing heavy, so that
``planeval --help`` and a replayed run stay fast."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from harness.errors import PlanevalError


def home(args: argparse.Namespace) -> Path:
    return Path(args.home or os.environ.get("PLANEVAL_HOME") or ".planeval")


def db(args: argparse.Namespace) -> str:
    return args.db or os.environ.get("PLANEVAL_DB") or f"sqlite:///{home(args) / 'leaderboard.db'}"


def includes(args: argparse.Namespace) -> None:
    from harness.catalog import include_dir

    for d in args.include or []:
        include_dir(Path(d))


def open_store(args: argparse.Namespace) -> Any:
    """The leaderboard of ``--db``; a missing SQLite file is an error, not a new empty board."""
    from leaderboard.store import Store

    url = db(args)
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).exists():
        raise PlanevalError(f"no leaderboard at {url}: run a suite first (planeval run)")
    return Store(url)


def common_parser() -> argparse.ArgumentParser:
    """The parent parser of --home, --db and --include (they go after the command)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--home", help="cache and leaderboard folder (env PLANEVAL_HOME; default ./.planeval)"
    )
    common.add_argument("--db", help="leaderboard SQL URL (env PLANEVAL_DB; default sqlite in --home)")
    common.add_argument(
        "--include",
        action="append",
        metavar="DIR",
        help="a folder of variant/suite YAML to register (repeatable)",
    )
    common.add_argument(
        "--data-dir",
        metavar="DIR",
        help="the data root that data:<path> in suites names (env PLANEVAL_DATA; default "
        "../shared/data beside the checkout)",
    )
    return common


def print_table(args: argparse.Namespace, suite: str | None, fmt: str, output: str | None = None) -> None:
    """The leaderboard of the selection in ``args`` (suite, variants, tasks, seeds, metrics, reference)."""
    from leaderboard.commands import emit, selection
    from leaderboard.outputs import build_board, write

    emit(write(fmt, build_board(open_store(args), selection(args, suite=suite), fmt)), output)
