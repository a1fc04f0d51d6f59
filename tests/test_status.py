"""``planeval status SUITE`` (issue 16): a suite's stages read from its home and leaderboard alone — done,
running (a held lease names its builder), failed (the leaderboard's failed rows) and queued — with an
estimated time to finish, and nothing changed."""

from __future__ import annotations

import shutil
from pathlib import Path

from _executors import INCLUDE

from harness.cli import main
from harness.lease import Lease, hostname
from leaderboard.store import RunRecord, Store


def _status(capsys, suite: Path, home: Path) -> str:
    capsys.readouterr()
    argv = ["status", str(suite), "--include", str(INCLUDE), "--home", str(home)]
    assert main(argv) == 0
    return capsys.readouterr().out


def test_status_counts_done_running_failed_and_queued(micro_local, tmp_path, capsys) -> None:
    suite, reference = micro_local
    home = tmp_path / "home"
    shutil.copytree(reference, home)
    out = _status(capsys, suite, home)
    assert "0 running, 0 failed, 0 queued" in out and "done" in out and "ETA" not in out

    evals = sorted(p for p in (home / "cache" / "eval").iterdir() if not p.name.startswith("."))
    queued, running = evals[0], evals[1]
    shutil.rmtree(queued)  # a stage gone from the cache: queued again
    shutil.rmtree(running)
    with Lease.acquire(home / "cache" / "eval" / f".lease-{running.name}"):  # someone builds it
        out = _status(capsys, suite, home)
    assert "1 running, 0 failed, 1 queued" in out
    assert f"built by {hostname()}:" in out and "ETA ~" in out and "ESTIMATE" in out

    # a failed row in the leaderboard for a stage that is not in the cache: failed, with its error
    store = Store(f"sqlite:///{home / 'leaderboard.db'}")
    run = store.runs().iloc[0].to_dict()
    failed_key = run["eval_key"]
    shutil.rmtree(home / "cache" / "eval" / failed_key, ignore_errors=True)
    fields = {k: run[k] for k in RunRecord.__dataclass_fields__ if k in run}
    store.record(RunRecord(**{**fields, "status": "failed", "error": "RuntimeError: out of memory"}), [])
    out = _status(capsys, suite, home)
    assert "failed" in out and "RuntimeError: out of memory" in out
    assert not list((home / "cache" / "eval").glob(".lease-*"))  # status itself holds nothing
