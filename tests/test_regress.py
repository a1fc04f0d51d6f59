"""Regression checks: a planted regression fails, noise within tolerance passes; snapshots round-trip
through JSON and YAML; tolerances (absolute, relative, CI, per metric) and the CLI's exit codes."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import yaml

from harness.cli import main
from harness.errors import PlanevalError
from leaderboard.regress import Tolerance, Tolerances, check, dump, load, report_text, snapshot
from leaderboard.store import MetricRecord, RunRecord, Store


def result(variant, task, metric, value, seed=0, lo=None, hi=None, higher=True, family="f"):
    return {
        "run_id": f"{variant}-{task}-{seed}", "suite": "s", "variant": variant, "family": family,
        "task": task, "seed": seed, "metric": metric, "value": value, "n": 100, "ci_low": lo, "ci_high": hi,
        "higher_is_better": higher, "config_hash": f"c-{variant}", "model_key": "m", "git_commit": "g",
    }  # fmt: skip


def board(ppl: float = 20.0, acc: float = 0.60, seeds=(0,)) -> pd.DataFrame:
    rows = []
    for s in seeds:
        rows.append(
            result("lm", "wiki", "perplexity", ppl + 0.1 * s, seed=s, lo=ppl - 1, hi=ppl + 1, higher=False)
        )
        rows.append(result("lm", "qa", "accuracy", acc, seed=s, lo=acc - 0.05, hi=acc + 0.05))
    return pd.DataFrame(rows)


def statuses(report) -> dict[tuple[str, str], str]:
    return {(r.task, r.metric): r.status for r in report.rows.itertuples()}


def test_snapshot_of_seed_means_with_intervals():
    base = snapshot(board(seeds=(0, 1, 2)), "s")
    ppl = next(e for e in base.entries if e.metric == "perplexity")
    assert ppl.value == pytest.approx(20.1) and ppl.std == pytest.approx(0.1) and ppl.seeds == [0, 1, 2]
    half = 4.302653 * 0.1 / math.sqrt(3)  # t(0.975, 2 df) * sd / sqrt(n)
    assert (ppl.ci_low, ppl.ci_high) == pytest.approx((20.1 - half, 20.1 + half), rel=1e-6)
    assert not ppl.higher_is_better and ppl.config_hashes == ["c-lm"]
    one = snapshot(board(), "s")
    assert next(e for e in one.entries if e.metric == "perplexity").ci_low == 19.0  # the run's own CI


def test_planted_regression_fails_and_noise_within_tolerance_passes():
    base = snapshot(board(ppl=20.0, acc=0.60), "s")  # default tolerance: 1% relative
    noisy = check(base, board(ppl=20.15, acc=0.597))  # 0.75% and 0.5% worse
    assert set(statuses(noisy).values()) == {"ok"} and not noisy.failed()
    worse = check(base, board(ppl=21.0, acc=0.60))  # perplexity 5% worse (lower is better)
    assert statuses(worse)[("wiki", "perplexity")] == "regressed" and worse.failed()
    dropped = check(base, board(ppl=20.0, acc=0.55))  # accuracy fell: higher is better
    assert statuses(dropped)[("qa", "accuracy")] == "regressed"
    better = check(base, board(ppl=15.0, acc=0.70))
    assert set(statuses(better).values()) == {"improved"} and not better.failed()


def test_ci_tolerance_against_noise_in_repeated_evaluations():
    """Same model, fresh evaluation noise (200 reruns, one variant each): with the CI tolerance ~97.5%
    pass (one-sided); a real drop of 3 standard errors fails almost always."""
    rng = np.random.default_rng(0)
    truth, se, reps = 0.60, 0.02, 200
    half = 1.96 * se
    base = snapshot(pd.DataFrame([result(f"v{i}", "qa", "acc", truth, lo=truth - half, hi=truth + half)
                                  for i in range(reps)]), "s")  # fmt: skip
    noise = rng.normal(0, se, size=reps)
    rerun = pd.DataFrame([result(f"v{i}", "qa", "acc", truth + noise[i]) for i in range(reps)])
    passed = (check(base, rerun, Tolerance(ci=True)).rows["status"] != "regressed").sum()
    assert 185 <= passed <= 200
    dropped = pd.DataFrame([result(f"v{i}", "qa", "acc", truth - 3 * se + noise[i]) for i in range(reps)])
    caught = (check(base, dropped, Tolerance(ci=True)).rows["status"] == "regressed").sum()
    assert caught >= 0.75 * reps  # P(noise < 1.04 se) = 85%


def test_tolerance_kinds_and_per_metric_overrides():
    tol = Tolerance(absolute=0.5, relative=0.01, ci=True)
    assert tol.allowed(20.0, False, 19.0, 21.5) == 1.5  # the CI's reach on the worse (upper) side
    assert tol.allowed(20.0, True, 19.8, 21.5) == 0.5  # absolute beats CI (0.2) and relative (0.2)
    assert Tolerance(relative=0.1).allowed(-30.0, True, None, None) == pytest.approx(3.0)
    base = snapshot(board(), "s", Tolerances(default=Tolerance(), metrics={"qa/*": Tolerance(absolute=0.1)}))
    report = check(base, board(ppl=20.001, acc=0.55))
    assert statuses(report) == {("wiki", "perplexity"): "regressed", ("qa", "accuracy"): "ok"}
    relaxed = check(base, board(ppl=20.001, acc=0.55), default=Tolerance(relative=0.01))
    assert not relaxed.failed()  # the CLI default replaces the file's default, not the per-metric one


def test_missing_and_new_metrics():
    base = snapshot(board(), "s")
    current = board()
    current = pd.concat(
        [current[current["metric"] != "accuracy"], pd.DataFrame([result("lm", "qa", "f1", 0.5)])]
    )
    report = check(base, current)
    assert statuses(report) == {
        ("qa", "accuracy"): "missing",
        ("wiki", "perplexity"): "ok",
        ("qa", "f1"): "new",
    }
    assert report.failed() and not report.failed(allow_missing=True)
    assert list(report.rows["status"]) == ["missing", "new", "ok"]  # worst first
    text = report_text(report)
    assert "| missing | lm | qa | accuracy ↑ |" in text and text.rstrip().endswith("1 missing, 1 new, 1 ok")
    everything_gone = check(base, board().iloc[:0])
    assert set(statuses(everything_gone).values()) == {"missing"}


def test_notes_say_why_a_number_may_have_moved():
    base = snapshot(board(), "s")
    current = board(ppl=25.0).assign(config_hash="other")
    row = check(base, current).rows.iloc[0]
    assert row["status"] == "regressed" and row["note"] == "config changed"


def test_json_and_yaml_round_trip(tmp_path):
    base = snapshot(board(seeds=(0, 1)), "s", Tolerances(metrics={"perplexity": Tolerance(ci=True)}))
    for suffix, fmt in ((".json", "json"), (".yaml", "yaml")):
        path = tmp_path / f"b{suffix}"
        path.write_text(dump(base, fmt))
        assert load(path) == base
    assert yaml.safe_load((tmp_path / "b.yaml").read_text())["planeval_baseline"] == 1


def test_bad_baseline_files_fail_clearly(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(PlanevalError, match=r"bad\.json: line 1: invalid JSON"):
        load(bad)
    other = tmp_path / "other.yaml"
    other.write_text("name: s\nvariants: [a]\n")
    with pytest.raises(PlanevalError, match="not a planeval baseline"):
        load(other)
    typo = tmp_path / "typo.json"
    doc = json.loads(dump(snapshot(board(), "s")))
    doc["tolerance"]["default"]["relativ"] = 0.1
    typo.write_text(json.dumps(doc))
    with pytest.raises(
        PlanevalError,
        match=r"typo.json: tolerance.default.relativ: unknown field \(allowed: absolute, ci, relative\)",
    ):
        load(typo)
    evil = tmp_path / "evil.yaml"
    evil.write_text("planeval_baseline: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(PlanevalError, match="invalid YAML"):
        load(evil)  # safe_load: no object construction
    with pytest.raises(PlanevalError, match="no such"):
        load(tmp_path / "absent.json")


def _store(path, ppl: float, acc: float) -> None:
    store = Store(path)
    for i, (task, metric, value, higher) in enumerate(
        [("wiki", "perplexity", ppl, False), ("qa", "acc", acc, True)]
    ):
        run = RunRecord(
            run_id=f"run{i}", suite="s", variant="lm", family="lm", task=task, task_name=task, seed=0,
            config_hash="c", model_key="m", eval_key=f"e{i}", git_commit="g", package_versions={}, timings={},
            params={},
        )  # fmt: skip
        store.record(
            run,
            [
                MetricRecord(metric, value, 50, value * 0.95, value * 1.05, higher, base=metric, dims={}),
                MetricRecord(f"{metric}@64", value, 50, None, None, higher, base=metric, dims={"length": 64}),
            ],
        )
    store.close()


def test_cli_export_then_regress(tmp_path, capsys):
    db = tmp_path / "lb.db"
    _store(db, ppl=20.0, acc=0.6)
    baseline = tmp_path / "smoke.json"
    assert main(["leaderboard", "--db", str(db), "--format", "baseline", "-o", str(baseline)]) == 0
    doc = json.loads(baseline.read_text())
    assert doc["suite"] == "s" and len(doc["entries"]) == 4  # breakdowns are guarded too
    capsys.readouterr()
    assert main(["leaderboard", "--db", str(db), "--format", "csv"]) == 0
    assert "perplexity@64" not in capsys.readouterr().out  # but the table leaves them out by default
    capsys.readouterr()
    assert main(["regress", "--db", str(db), "--baseline", str(baseline)]) == 0
    assert "4 metrics checked: 4 ok" in capsys.readouterr().out

    _store(db, ppl=20.5, acc=0.6)  # 2.5% worse: over the 1% default
    assert main(["regress", "--db", str(db), "--baseline", str(baseline)]) == 1
    out, err = capsys.readouterr()
    assert "| regressed | lm | wiki | perplexity ↓ | 20 | 20.5 | +0.5 (+2.50%) | 0.2 |" in out
    assert "regression against the baseline" in err
    assert main(["regress", "--db", str(db), "--baseline", str(baseline), "--tolerance-rel", "0.05"]) == 0
    # the CI (±5%) covers perplexity; perplexity@64 has no CI, so only the other tolerances can cover it
    assert main(["regress", "--db", str(db), "--baseline", str(baseline), "--tolerance-ci"]) == 1
    assert "| regressed | lm | wiki | perplexity@64 ↓ |" in capsys.readouterr().out
    ci_or_rel = ["--tolerance-ci", "--tolerance-rel", "0.03"]
    assert main(["regress", "--db", str(db), "--baseline", str(baseline), *ci_or_rel]) == 0
    capsys.readouterr()
    assert main(["regress", "--db", str(db), "--baseline", str(baseline), "--format", "json"]) == 1
    rows = json.loads(capsys.readouterr().out)
    assert {r["status"] for r in rows} == {"regressed", "ok"}
    yaml_path = tmp_path / "smoke.yaml"
    assert main(["leaderboard", "--db", str(db), "--format", "baseline-yaml", "-o", str(yaml_path)]) == 0
    assert load(yaml_path).entries[0].value == pytest.approx(0.6)
