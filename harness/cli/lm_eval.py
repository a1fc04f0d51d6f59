"""``planeval lm-eval [++db URL] [++suite S] [++variant V] [++no-record] ARGS`` = ``lm_eval ARGS`` with the
``planeval`` model registered, and its results recorded in the leaderboard as ``planeval import-lm-eval``
records them (lm-eval's own files: with ``--output_path`` those it writes there, else in a temporary
folder). The bridge (and with it torch and lm-eval) is imported only when the command runs."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from harness.cli.common import db


def _output_path(argv: list[str]) -> str | None:
    """The ``--output_path`` (or ``-o``) lm-eval is given, if any."""
    for i, arg in enumerate(argv):
        if arg.startswith("--output_path="):
            return arg.split("=", 1)[1]
        if arg in ("--output_path", "-o") and i + 1 < len(argv):
            return argv[i + 1]
    return None


def written_since(out: Path, start: float) -> list[tuple[Path, list[Path]]]:
    """The results files lm-eval wrote under ``out`` since ``start``, each with its samples files (the
    ``samples_<task>_<date>.jsonl`` of the same date beside it)."""
    folder = out.parent if out.suffix == ".json" else out
    found = []
    for results in sorted(folder.rglob("results_*.json")):
        if results.stat().st_mtime + 1 < start:
            continue
        stamp = results.stem.removeprefix("results_")
        found.append((results, sorted(results.parent.glob(f"samples_*_{stamp}.jsonl"))))
    return found


def cmd_lm_eval(args: argparse.Namespace) -> int:
    from harness.lm_eval_bridge import main as lm_eval_main

    argv = list(args.lm_eval_args)
    if args.no_record:
        return lm_eval_main(argv)
    with tempfile.TemporaryDirectory(prefix="planeval-lm-eval-") as scratch:
        out = _output_path(argv)
        if out is None:  # lm-eval writes no file without one: its files are what is recorded
            out = scratch
            argv += ["--output_path", scratch]
        start = time.time()
        code = lm_eval_main(argv)
        if code != 0:
            return code
        return _record(args, written_since(Path(out), start))


def _record(args: argparse.Namespace, files: list[tuple[Path, list[Path]]]) -> int:
    from leaderboard.import_lm_eval import import_files
    from leaderboard.store import Store

    if not files:
        print("planeval lm-eval: lm-eval wrote no results file; nothing recorded")
        return 0
    store = Store(db(args))
    try:
        for results, samples in files:
            for run in import_files(store, results, samples, args.suite, args.variant):
                print(f"recorded {run.run_id}  {run.suite}/{run.variant}/{run.task}")
    finally:
        store.close()
    return 0


def add(sub: argparse._SubParsersAction, common: argparse.ArgumentParser, help: str) -> None:
    from leaderboard.import_lm_eval import SUITE

    # everything after planeval's own ++options goes to lm-eval untouched ('+' prefix: '--model' is not
    # ours to parse)
    p = sub.add_parser(
        "lm-eval",
        add_help=False,
        prefix_chars="+",
        help=help,
        description="lm-eval's CLI; --model_args variant=V,suite=S,home=DIR,seed=N | path=DIR | hf=NAME. "
        "The results are recorded in the leaderboard (++db URL, ++home DIR; ++suite, ++variant as for "
        "import-lm-eval; ++no-record: not). planeval's ++options go before lm-eval's arguments.",
    )
    p.add_argument("++db", dest="db", help="leaderboard SQL URL (env PLANEVAL_DB; default sqlite in --home)")
    p.add_argument(
        "++home", dest="home", help="the home whose leaderboard is the default (env PLANEVAL_HOME)"
    )
    p.add_argument("++suite", dest="suite", default=SUITE, help=f"record under this suite (default {SUITE})")
    p.add_argument("++variant", dest="variant", help="the row label (default: lm-eval's model_name)")
    p.add_argument("++no-record", dest="no_record", action="store_true", help="do not record the results")
    p.add_argument("lm_eval_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_lm_eval)
