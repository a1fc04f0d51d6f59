"""What a checker reads: ``planeval show RUN --json`` (only JSON, full precision) and the leaderboard's
``--format json|csv`` with run ids and unrounded values, straight from a store."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.cli import main
from leaderboard.store import MetricRecord, RunRecord, Store

THIRD = 1 / 3
AWKWARD = 0.1 + 0.2  # 0.30000000000000004: six significant digits would print 0.3


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """Two variants × one task, one with two seeds; run 0's per-sample table is on disk."""
    store = Store(tmp_path / "lb.db")
    samples = pd.DataFrame(
        {
            "sample_id": ["a", "b", "c"],
            "nll": [THIRD, AWKWARD, math.nan],
            "actions": [np.array([1, 2]), np.array([], dtype=np.int64), np.array([3])],
            "text": ["x", '=HYPERLINK("http://x","y")', "z"],
        }
    )
    samples.to_parquet(tmp_path / "samples.parquet")
    runs = [
        ("soft", "planner", 0, 20.0 + THIRD), ("soft", "planner", 1, 21.0 + AWKWARD), ("base", "lm", 0, 25.5),
    ]  # fmt: skip
    for i, (variant, family, seed, ppl) in enumerate(runs):
        run = RunRecord(
            run_id=f"{i:016x}", suite="s", variant=variant, family=family, task="wiki",
            task_name="perplexity", seed=seed, config_hash="c", model_key=f"m{i}", eval_key=f"e{i}",
            git_commit="g", package_versions={"torch": "2"}, timings={"eval": 1.5},
            params={"mode": "rolling", "encoding": "lm-eval"},
            samples_path=str(tmp_path / "samples.parquet") if i == 0 else None,
        )  # fmt: skip
        lo, hi = ppl - THIRD / 10, ppl + AWKWARD
        store.record(run, [MetricRecord("perplexity", ppl, 3, lo, hi, higher_is_better=False)])
    return store


def test_show_json_is_only_json_at_full_precision(store: Store, capsys: pytest.CaptureFixture) -> None:
    assert main(["show", "0000000000000000", "--db", store.url, "--json"]) == 0
    out = capsys.readouterr().out
    doc = json.loads(out)  # the whole of stdout parses: nothing printed around it
    assert doc["run"]["run_id"] == "0000000000000000" and doc["run"]["variant"] == "soft"
    assert doc["run"]["params"] == {"mode": "rolling", "encoding": "lm-eval"}
    assert isinstance(doc["run"]["created_at"], str) and "metrics" not in doc["run"]
    [metric] = doc["metrics"]
    assert metric["value"] == 20.0 + THIRD and metric["ci_high"] == 20.0 + THIRD + AWKWARD  # bit-exact
    assert metric["ci_low"] == 20.0 + THIRD - THIRD / 10 and metric["n"] == 3
    samples = doc["samples"]
    assert samples["n_rows"] == 3 and samples["columns"] == ["sample_id", "nll", "actions", "text"]
    assert [r["nll"] for r in samples["rows"]] == [THIRD, AWKWARD, None]  # NaN is null: JSON has no NaN
    assert [r["actions"] for r in samples["rows"]] == [[1, 2], [], [3]]
    assert "NaN" not in out and "Infinity" not in out
    assert main(["show", "0000000000000000", "--db", store.url, "--json", "--samples", "1"]) == 0
    assert len(json.loads(capsys.readouterr().out)["samples"]["rows"]) == 1
    assert main(["show", "0000000000000000", "--db", store.url, "--json", "--samples", "-1"]) == 0
    assert len(json.loads(capsys.readouterr().out)["samples"]["rows"]) == 3
    # a run whose samples left the cache: null, still only JSON
    assert main(["show", "0000000000000002", "--db", store.url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["samples"] is None
    # the text form stays for people: rounded, with a heading
    assert main(["show", "0000000000000000", "--db", store.url]) == 0
    text = capsys.readouterr().out
    assert "metrics:" in text and "20.3333 [" in text and "per-sample details (3 rows" in text
    # bad input: one line on stderr, nothing on stdout
    assert main(["show", "ffff", "--db", store.url, "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "no run with id or prefix 'ffff'" in captured.err


def test_leaderboard_json_and_csv_carry_run_ids_and_full_precision(
    store: Store, capsys: pytest.CaptureFixture
) -> None:
    assert main(["leaderboard", "--db", store.url, "--suite", "s", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    cells = {row["variant"]: row["cells"][0] for row in doc["rows"]}
    assert cells["base"]["run_ids"] == ["0000000000000002"] and cells["base"]["mean"] == 25.5
    assert cells["base"]["ci_low"] == 25.5 - THIRD / 10 and cells["base"]["ci_high"] == 25.5 + AWKWARD
    assert cells["soft"]["run_ids"] == ["0000000000000000", "0000000000000001"]
    assert cells["soft"]["seeds"] == [0, 1]
    assert cells["soft"]["mean"] == ((20.0 + THIRD) + (21.0 + AWKWARD)) / 2
    assert main(["leaderboard", "--db", store.url, "--suite", "s", "--format", "csv"]) == 0
    records = {r["variant"]: r for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert records["base"]["run_ids"] == "0000000000000002"
    assert float(records["base"]["ci_low"]) == 25.5 - THIRD / 10
    assert records["soft"]["run_ids"] == "0000000000000000;0000000000000001"
    assert float(records["soft"]["mean"]) == cells["soft"]["mean"] and records["soft"]["n_seeds"] == "2"
    assert float(records["soft"]["std"]) == pytest.approx(np.std([20.0 + THIRD, 21.0 + AWKWARD], ddof=1))


def test_compare_csv_escapes_formulas_and_json_keeps_precision() -> None:
    """``planeval compare --format csv|json``: a variant named like a formula is text in the CSV (the
    ``better`` column names a variant), numbers stay numbers, JSON keeps every float's bits."""
    from leaderboard.commands import compare_text

    evil = '=HYPERLINK("http://x","y")'
    frame = pd.DataFrame(
        {"task": ["t"], "metric": ["-m"], "a": [THIRD], "b": [-0.5], "diff": [THIRD + 0.5],
         "p_value": [math.nan], "better": [evil]}
    )  # fmt: skip
    [row] = list(csv.DictReader(io.StringIO(compare_text(frame, evil, "b", "csv"))))
    assert row["better"] == "'" + evil and row["metric"] == "'-m"
    assert float(row["a"]) == THIRD and row["b"] == "-0.5"
    [record] = json.loads(compare_text(frame, evil, "b", "json"))
    assert record["a"] == THIRD and record["diff"] == THIRD + 0.5 and record["p_value"] is None
    assert record["better"] == evil  # JSON needs no escaping
