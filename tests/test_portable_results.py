"""Results are self-contained (issue 15, its storage part): a run's per-sample table lives in the
leaderboard database, so paired tests, ``--reference`` marks, ``show`` and ``regress`` work from another
folder with another home, and still work once the home that produced them is gone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from harness.cli import main
from leaderboard.store import Store

INCLUDE = str(Path(__file__).parent / "data" / "include")


def test_results_work_from_another_folder_and_after_the_cache_is_gone(tmp_path, capsys, monkeypatch):
    a, b = tmp_path / "A", tmp_path / "B"
    a.mkdir(), b.mkdir()
    db = f"sqlite:///{tmp_path / 'shared' / 'board.db'}"
    monkeypatch.chdir(a)
    assert main(["run", "micro", "--include", INCLUDE, "--home", "home", "--db", db, "--no-progress"]) == 0
    capsys.readouterr()
    timings = Store(db).runs(suite="micro")["timings"]
    assert all(t["eval_threads"] >= 1 for t in timings)  # the thread count is part of the provenance
    assert any("train_threads" in t for t in timings)
    baseline = tmp_path / "baseline.json"
    assert (
        main(["leaderboard", "--suite", "micro", "--db", db, "--format", "baseline", "-o", str(baseline)])
        == 0
    )

    def everything_works() -> None:
        capsys.readouterr()
        assert (
            main(["compare", "micro-lm", "unigram", "--suite", "micro", "--db", db, "--n-boot", "200"]) == 0
        )
        out = capsys.readouterr().out
        assert "micro-lm vs unigram" in out and "ppl-rolling" in out
        code = main(
            ["leaderboard", "--suite", "micro", "--db", db, "--reference", "unigram", "--n-boot", "200"]
        )
        out = capsys.readouterr().out
        assert code == 0 and "differs from unigram" in out
        assert "no longer in the cache" not in out
        for run_id in Store(db).runs(suite="micro")["run_id"]:  # every run's per-sample rows, from the db
            assert main(["show", run_id, "--json", "--samples", "-1", "--db", db]) == 0
            rows = json.loads(capsys.readouterr().out)["samples"]
            assert rows is not None and rows["n_rows"] == len(rows["rows"]) > 0
            assert main(["show", run_id, "--samples", "2", "--db", db]) == 0
            assert f"per-sample details ({rows['n_rows']} rows; first 2)" in capsys.readouterr().out
        assert main(["regress", "--baseline", str(baseline), "--db", db, "--all"]) == 0
        report = capsys.readouterr().out
        assert "ppl-rolling" in report and "rouge" in report  # every metric checked, none missing

    monkeypatch.chdir(b)  # another folder, another home (the default ./.planeval of B)
    everything_works()
    assert main(["cache", "gc", "--home", str(a / "home")]) == 0
    everything_works()
    shutil.rmtree(a / "home")  # the cache that produced the rows is gone altogether
    everything_works()
    assert not (b / ".planeval").exists()  # reading wrote no home in B
