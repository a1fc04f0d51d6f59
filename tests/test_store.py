"""The leaderboard store: round trips, replacement, atomicity, failed runs, lookups, SQLite settings."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timezone
from pathlib import Path

import pytest
from _store_schemas import written_by
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError

from harness.errors import PlanevalError
from leaderboard.store import Metric, MetricRecord, RunRecord, Store


def make_run(run_id: str = "a1b2c3d4e5f60718", **over) -> RunRecord:
    base = RunRecord(
        run_id=run_id,
        suite="paperA",
        variant="soft-halfway",
        family="planner",
        task="wikitext",
        task_name="perplexity",
        seed=0,
        config_hash="cfg0",
        model_key="model0",
        eval_key=f"eval-{run_id}",
        git_commit="deadbeef",
        package_versions={"torch": "2.13.0"},
        timings={"train": 12.5, "eval": 3.25},
        params={"mode": "paper", "window": 128},
        samples_path=f"/cache/{run_id}.parquet",
    )
    return replace(base, **over)


def test_metric_structure_round_trips_and_old_databases_gain_its_columns(tmp_path: Path) -> None:
    """A value's base metric and breakdown coordinates are stored beside its name; a database written
    before those columns existed opens, reads its old rows as "not known" and records new ones."""
    path = tmp_path / "lb.sqlite"
    store = Store(path)
    breakdown = MetricRecord("rouge1@64", 0.25, 10, higher_is_better=True, base="rouge1", dims={"length": 64})
    store.record(make_run(), [breakdown])
    rows = store.results().set_index("metric")
    assert (rows.loc["rouge1@64", "base"], rows.loc["rouge1@64", "dims"]) == ("rouge1", {"length": 64})
    assert store.get_run(make_run().run_id)["metrics"][0]["dims"] == {"length": 64}
    written_by(store.engine, "samples")  # the database as planeval left it before the columns
    store.close()
    read_only = Store(f"sqlite:///file:{path}?mode=ro&uri=true")  # cannot gain the columns: still reads
    assert not read_only.structured and read_only.results()[["base", "dims"]].isna().all().all()
    assert read_only.get_run(make_run().run_id)["metrics"][0]["base"] is None
    read_only.close()
    old = Store(path)
    assert old.structured and old.results()[["base", "dims"]].isna().all().all()
    old.record(make_run("b" * 16, variant="other"), [breakdown])
    got = old.results().set_index("variant").loc["other"]
    assert (got["base"], got["dims"]) == ("rouge1", {"length": 64})
    old.close()


def ppl_metrics(value: float = 25.0) -> list[MetricRecord]:
    return [
        MetricRecord("perplexity", value, 1000, value - 1, value + 1, higher_is_better=False),
        MetricRecord("bits_per_byte", 1.1, 1000, higher_is_better=False),
    ]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(f"sqlite:///{tmp_path}/nested/dir/lb.sqlite")
    yield s
    s.close()


def run_ids(store: Store) -> list[str]:
    return store.runs(status=None)["run_id"].tolist()


def test_round_trip_and_parent_dir(store: Store, tmp_path: Path):
    assert (tmp_path / "nested" / "dir" / "lb.sqlite").exists()
    store.record(make_run(), ppl_metrics())
    runs = store.runs()
    assert len(runs) == 1
    row = runs.iloc[0]
    assert row["params"] == {"mode": "paper", "window": 128}
    assert row["timings"] == {"train": 12.5, "eval": 3.25}
    assert row["package_versions"] == {"torch": "2.13.0"}
    assert row["created_at"].tzinfo is not None
    res = store.results()
    assert list(res.columns) == [
        "run_id", "suite", "variant", "family", "task", "seed", "metric", "value", "n",
        "ci_low", "ci_high", "higher_is_better", "base", "dims", "config_hash", "model_key", "git_commit",
    ]  # fmt: skip
    ppl = res.set_index("metric").loc["perplexity"]
    assert (ppl["value"], ppl["n"], ppl["ci_low"], ppl["ci_high"]) == (25.0, 1000, 24.0, 26.0)
    assert not ppl["higher_is_better"]
    assert res.set_index("metric").loc["bits_per_byte"][["ci_low", "ci_high"]].isna().all()
    assert store.suites() == ["paperA"]


def test_bare_path_is_a_sqlite_file(tmp_path: Path):
    s = Store(tmp_path / "x" / "lb.db")
    s.record(make_run(), ppl_metrics())
    assert s.has_run("a1b2c3d4e5f60718")
    s.close()
    assert (tmp_path / "x" / "lb.db").exists()


def test_in_memory_url():
    s = Store("sqlite://")
    s.record(make_run(), ppl_metrics())
    assert len(s.results()) == 2


def test_record_replaces_same_run_id(store: Store):
    store.record(make_run(), ppl_metrics(25.0))
    new = [MetricRecord("perplexity", 20.0, 10, higher_is_better=False)]
    store.record(make_run(timings={"eval": 1.0}), new)
    res = store.results()
    assert res[["metric", "value"]].values.tolist() == [["perplexity", 20.0]]
    assert store.runs().iloc[0]["timings"] == {"eval": 1.0}
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM metrics")).scalar() == 1


def test_failed_run_carries_no_metrics(store: Store):
    failed = make_run(status="failed", error="CUDA OOM")
    with pytest.raises(ValueError, match="no metrics"):
        store.record(failed, ppl_metrics())
    store.record(failed, [])
    assert not store.has_run(failed.run_id)
    assert store.runs().empty
    assert store.runs(status="failed")["error"].tolist() == ["CUDA OOM"]
    assert store.results().empty
    assert store.get_run(failed.run_id)["status"] == "failed"
    # a retry that succeeds replaces the failure
    store.record(make_run(), ppl_metrics())
    assert store.has_run(failed.run_id)
    assert store.runs(status=None)["status"].tolist() == ["ok"]


def test_bad_status_and_nan_are_refused(store: Store):
    with pytest.raises(ValueError, match="status"):
        store.record(make_run(status="done"), [])
    with pytest.raises(ValueError, match="NaN"):
        store.record(make_run(), [MetricRecord("mauve", float("nan"), 10)])
    assert run_ids(store) == []


def test_nan_ci_bounds_are_stored_as_null(store: Store):
    store.record(make_run(), [MetricRecord("acc", 0.5, 1, float("nan"), float("nan"))])
    assert store.results()[["ci_low", "ci_high"]].isna().all().all()


def test_crash_in_metric_insert_leaves_nothing(store: Store):
    metrics = [MetricRecord("acc", 0.5, 10), MetricRecord("acc", 0.6, 10)]  # violates (run_id, name)
    with pytest.raises(IntegrityError):
        store.record(make_run(), metrics)
    assert run_ids(store) == []
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM metrics")).scalar() == 0


def test_crash_while_replacing_keeps_the_old_run(store: Store):
    store.record(make_run(), ppl_metrics(25.0))

    def boom(mapper, connection, target):
        if target.name == "explode":
            raise RuntimeError("disk full")

    event.listen(Metric, "before_insert", boom)
    try:
        with pytest.raises(RuntimeError, match="disk full"):
            store.record(make_run(), [MetricRecord("perplexity", 1.0, 1), MetricRecord("explode", 0.0, 1)])
    finally:
        event.remove(Metric, "before_insert", boom)
    res = store.results().set_index("metric")
    assert res.loc["perplexity", "value"] == 25.0
    assert sorted(res.index) == ["bits_per_byte", "perplexity"]


def test_one_row_per_suite_variant_and_eval_key(store: Store):
    store.record(make_run(), ppl_metrics())
    first = store.runs()
    # the same (suite, variant, eval key) under a new run id replaces the row (e.g. an id scheme change)
    store.record(make_run("ffffffffffffffff", eval_key=first.iloc[0]["eval_key"]), ppl_metrics(21.0))
    runs = store.runs()
    assert len(runs) == 1 and runs.iloc[0]["run_id"] == "ffffffffffffffff"
    # two variant names with identical configs share an eval key but stay two rows
    store.record(
        make_run("eeeeeeeeeeeeeeee", variant="twin", eval_key=first.iloc[0]["eval_key"]), ppl_metrics()
    )
    assert len(store.runs()) == 2
    store.record(make_run("dddddddddddddddd", suite="other", eval_key="eval-a1b2c3d4e5f60718"), [])
    assert store.suites() == ["other", "paperA"]


def test_sqlite_pragmas_and_cascade(store: Store):
    store.record(make_run(), ppl_metrics())
    with store.engine.begin() as conn:
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 1000
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        conn.execute(text("DELETE FROM runs"))
        assert conn.execute(text("SELECT count(*) FROM metrics")).scalar() == 0


def test_results_filters_and_latest(store: Store):
    for i, (variant, task, seed) in enumerate(
        [("a", "wikitext", 0), ("a", "wikitext", 1), ("b", "wikitext", 0), ("b", "gsm8k", 0)]
    ):
        store.record(make_run(f"{i:016x}", variant=variant, task=task, seed=seed), ppl_metrics(20.0 + i))
    assert set(store.results(variants=["a"])["seed"]) == {0, 1}
    assert set(store.results(tasks=["gsm8k"])["variant"]) == {"b"}
    assert set(store.results(seeds=[1])["run_id"]) == {f"{1:016x}"}
    assert store.results(suite="nope").empty
    # a re-run of (a, wikitext, 0) under a changed config: only the newest counts by default
    store.record(make_run("e" * 16, variant="a", config_hash="cfg1"), ppl_metrics(99.0))
    latest = store.results(variants=["a"], seeds=[0])
    assert set(latest["run_id"]) == {"e" * 16}
    assert set(store.results(variants=["a"], seeds=[0], latest=False)["run_id"]) == {"e" * 16, f"{0:016x}"}


def test_get_run_by_prefix(store: Store):
    store.record(make_run("abc0000000000000"), ppl_metrics())
    store.record(make_run("abd0000000000000", seed=1), ppl_metrics())
    got = store.get_run("abc")
    assert got["run_id"] == "abc0000000000000"
    assert [m["name"] for m in got["metrics"]] == ["bits_per_byte", "perplexity"]
    assert got["created_at"].tzinfo == timezone.utc
    with pytest.raises(PlanevalError, match=r"ambiguous.*abc0000000000000.*abd0000000000000"):
        store.get_run("ab")
    with pytest.raises(PlanevalError, match="no run"):
        store.get_run("zz")
    with pytest.raises(PlanevalError, match="no run"):
        store.get_run("%")  # LIKE wildcards are literal


def test_parallel_writers_on_a_fresh_file(tmp_path: Path):
    """Runners started together create the same database and then write to it at once."""
    url = f"sqlite:///{tmp_path}/lb.db"
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def writer(k: int) -> None:
        try:
            start.wait()
            s = Store(url)
            for i in range(10):
                s.record(make_run(f"{k:02d}{i:014d}", seed=k * 100 + i), ppl_metrics())
                s.results()
            s.close()
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    s = Store(url)
    assert len(s.runs()) == 60 and len(s.results()) == 120
