"""The leaderboard's schema over time (SQLite; tests/test_postgres.py runs the server side): a database
written by an older planeval opens and is upgraded, a new one matches the models, concurrent openers
migrate once; who recorded a row, and what a second recording of the same run by someone else does;
a missing PostgreSQL driver is one line naming the extra."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from _store_schemas import create_previous
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, insert, inspect, text
from test_store import make_run, ppl_metrics

from harness.cli import main
from harness.errors import PlanevalError
from leaderboard import migrations
from leaderboard.store import Base, MetricRecord, Recorder, Store, check_writable, open_engine

ALICE, BOB = Recorder("alice", "lab-1"), Recorder("bob", "lab-2")
OLD_AT = datetime(2026, 6, 1, 12, 0)  # naive UTC, as the old store wrote it


def schema_diffs(store: Store) -> list:
    """What Alembic's autogenerate finds between the database and the models (nothing, when current)."""
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": migrations.VERSION_TABLE})
        return compare_metadata(context, Base.metadata)


def write_previous(url: str, stage: str) -> None:
    """A database written by planeval at ``stage``, with one successful run and its metric."""
    engine = open_engine(url)  # postgresql:// through psycopg 3, as the store opens it
    tables = create_previous(engine, stage).tables
    run = make_run()
    with engine.begin() as conn:
        conn.execute(
            insert(tables["runs"]).values(
                run_id=run.run_id, suite=run.suite, variant=run.variant, family=run.family, task=run.task,
                task_name=run.task_name, seed=run.seed, config_hash=run.config_hash, model_key=run.model_key,
                eval_key=run.eval_key, git_commit=run.git_commit, package_versions=run.package_versions,
                timings=run.timings, params=run.params, status="ok", created_at=OLD_AT,
            )
        )  # fmt: skip
        conn.execute(
            insert(tables["metrics"]).values(
                run_id=run.run_id, name="perplexity", value=25.0, n=1000, ci_low=24.0, ci_high=26.0,
                higher_is_better=False,
            )
        )  # fmt: skip
    engine.dispose()


@pytest.mark.parametrize("stage", ["first", "samples", "previous"])
def test_a_database_of_an_older_planeval_opens_and_gains_the_new_schema(tmp_path: Path, stage: str) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    write_previous(url, stage)
    store = Store(url, ALICE)
    assert (store.schema.before, store.schema.after) == (migrations.BASELINE, migrations.head())
    assert store.schema.applied == [
        r for r in ("0002", "0003", "0004", "0005", "0006", "0007") if r > migrations.BASELINE
    ]
    assert schema_diffs(store) == []  # the upgraded tables are the models' tables
    old = store.get_run(make_run().run_id)
    assert (old["recorded_by"], old["recorded_host"]) == (None, None)  # not known: written before
    assert old["created_at"] == OLD_AT.replace(tzinfo=timezone.utc)
    assert store.results()["value"].tolist() == [25.0] and store.replicates().empty
    store.record(make_run("b" * 16, variant="new"), ppl_metrics())
    new = store.runs().set_index("variant").loc["new"]
    assert (new["recorded_by"], new["recorded_host"]) == ("alice", "lab-1")
    store.close()
    again = Store(url)  # a second open finds it current and changes nothing
    assert again.schema.applied == [] and again.schema.before == migrations.head()
    again.close()


def test_a_new_database_is_created_by_the_revisions_and_matches_the_models(tmp_path: Path) -> None:
    store = Store(tmp_path / "new.db")
    assert store.schema.before is None and store.schema.applied == [
        "0001",
        "0002",
        "0003",
        "0004",
        "0005",
        "0006",
        "0007",
    ]
    assert schema_diffs(store) == []
    with store.engine.connect() as conn:
        assert (
            conn.execute(text(f"SELECT version_num FROM {migrations.VERSION_TABLE}")).scalar()
            == migrations.head()
        )
    store.close()


def test_an_old_read_only_database_is_read_and_refuses_writes_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    write_previous(f"sqlite:///{path}", "samples")
    read_only = f"sqlite:///file:{path}?mode=ro&uri=true"
    store = Store(read_only)
    assert not store.schema.current and store.schema.error
    assert store.runs()["recorded_by"].isna().all() and store.replicates().empty
    assert store.get_run(make_run().run_id)["replicates"] == []
    with pytest.raises(PlanevalError, match=r"schema is at revision 0001.*could not be upgraded") as err:
        store.record(make_run("c" * 16), ppl_metrics())
    assert "\n" not in str(err.value)
    store.close()
    with pytest.raises(PlanevalError, match="could not be upgraded"):
        check_writable(read_only)
    assert "recorded_by" not in {c["name"] for c in inspect(create_engine(read_only)).get_columns("runs")}


def test_a_database_of_a_newer_planeval_is_read_and_not_written(tmp_path: Path) -> None:
    path = tmp_path / "lb.db"
    store = Store(path)
    store.record(make_run(), ppl_metrics())
    with store.engine.begin() as conn:  # a later revision added a column this planeval does not know
        conn.execute(text("ALTER TABLE runs ADD COLUMN cost REAL"))
        conn.execute(text(f"UPDATE {migrations.VERSION_TABLE} SET version_num = '9999'"))
    store.close()
    newer = Store(path)
    assert newer.schema.after == "9999" and newer.results()["value"].tolist() == [1.1, 25.0]
    with pytest.raises(PlanevalError, match=r"revision 9999.*written by a newer planeval"):
        newer.record(make_run("d" * 16), ppl_metrics())
    newer.close()


def at_once(n: int, act: Callable[[Any], Any], prepare: Callable[[int], Any] = lambda k: k) -> list[Any]:
    """``act(prepare(k))`` for k < n in n threads released together at a barrier; the results, after
    re-raising the first error any thread met."""
    start = threading.Barrier(n)
    results: list[Any] = []
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            prepared = prepare(k)
            start.wait()
            results.append(act(prepared))
        except BaseException as exc:  # re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def open_at_once(url: str, n: int) -> list[Store]:
    """n processes' worth of ``Store(url)`` opened at the same moment."""
    return at_once(n, lambda _: Store(url))


def record_at_once(url: Any, n: int) -> list[Any]:
    """n recorders (user0 … user<n-1>) recording the same new run at the same moment."""

    def record(prepared: tuple[int, Store]) -> Any:
        k, store = prepared
        done = store.record(make_run(), [MetricRecord("acc", 0.5 + k / 10, 10)])
        store.close()
        return done

    return at_once(n, record, prepare=lambda k: (k, Store(url, Recorder(f"user{k}", "host"))))


def test_openers_of_one_old_database_at_once_migrate_it_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    write_previous(url, "samples")
    opened = open_at_once(url, 5)
    assert sorted(len(s.schema.applied) for s in opened) == [0, 0, 0, 0, 6]
    assert all(s.schema.current for s in opened)
    for s in opened:
        s.close()


def test_rows_name_who_recorded_them(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PLANEVAL_USER", "carol")
    assert Recorder.current().user == "carol" and Recorder.current().host
    store = Store(tmp_path / "lb.db")
    store.record(make_run(), ppl_metrics())
    row = store.get_run(make_run().run_id)
    assert row["recorded_by"] == "carol" and row["recorded_host"] == Recorder.current().host
    assert row["created_at"].tzinfo == timezone.utc  # when


def samples_bytes(value: float) -> bytes:
    import io

    import pandas as pd

    buf = io.BytesIO()
    pd.DataFrame({"sample_id": ["a", "b"], "nll": [value, value + 1]}).to_parquet(buf, index=False)
    return buf.getvalue()


def test_a_second_recording_by_someone_else_is_kept_as_a_replicate(tmp_path: Path, caplog) -> None:
    path = tmp_path / "lb.db"
    alice, bob = Store(path, ALICE), Store(path, BOB)
    assert alice.record(make_run(), ppl_metrics(25.0), samples_bytes(1.0)).kept_as == "run"
    caplog.set_level(logging.INFO, logger="planeval.store")
    # bob recomputed the same run in his own home: identical table, so identical metrics
    same = bob.record(make_run(), ppl_metrics(25.0), samples_bytes(1.0))
    assert same.kept_as == "replicate" and same.run_id == make_run().run_id
    assert same.message == caplog.records[-1].getMessage() and caplog.records[-1].levelname == "WARNING"
    assert (
        "recorded first by alice@lab-1" in same.message
        and "by bob@lab-2 is kept as its replicate" in same.message
    )
    assert "the same per-sample table" in same.message and "\n" not in same.message
    runs = alice.runs()  # the leaderboard row is still alice's, unchanged
    assert len(runs) == 1 and runs.iloc[0]["recorded_by"] == "alice"
    reps = alice.replicates()
    assert reps[["recorded_by", "recorded_host", "status", "same_samples"]].values.tolist() == [
        ["bob", "lab-2", "ok", True]
    ]
    assert reps.iloc[0]["metrics"][0]["value"] == 25.0
    # bob records it again with a different result: his replicate is replaced, not added to
    changed = bob.record(make_run(), ppl_metrics(27.0), samples_bytes(3.0))
    assert "a different per-sample table; 1 of 2 metrics differ, e.g. perplexity 25 vs 27" in changed.message
    reps = alice.replicates(make_run().run_id)
    assert len(reps) == 1 and not reps.iloc[0]["same_samples"] and reps.iloc[0]["n_rows"] == 2
    assert alice.replicate_samples(make_run().run_id, BOB)["nll"].tolist() == [3.0, 4.0]
    assert alice.get_run(make_run().run_id)["replicates"][0]["recorded_by"] == "bob"
    assert alice.results()["value"].tolist() == [1.1, 25.0]  # the board reads alice's row only
    # a failure of someone else's is kept too, as a failed replicate; alice's own re-record replaces
    carol = Store(path, Recorder("carol", "lab-3"))
    failed = carol.record(make_run(status="failed", error="CUDA OOM\ntraceback"), [])
    assert failed.kept_as == "replicate" and "it failed: CUDA OOM" in failed.message
    assert alice.record(make_run(), ppl_metrics(24.0)).message is None
    assert alice.results().set_index("metric").loc["perplexity", "value"] == 24.0
    assert sorted(alice.replicates()["recorded_by"]) == ["bob", "carol"]  # replicates outlive it


def test_what_is_replaced_is_said(tmp_path: Path, caplog) -> None:
    path = tmp_path / "lb.db"
    alice, bob = Store(path, ALICE), Store(path, BOB)
    alice.record(make_run(status="failed", error="boom"), [])
    caplog.set_level(logging.INFO, logger="planeval.store")
    done = bob.record(make_run(), ppl_metrics())  # a failure holds no result: bob's row replaces it
    assert done.kept_as == "run" and "replaces a failed recording by alice@lab-1" in done.message
    assert caplog.records[-1].levelname == "INFO"
    assert bob.runs().iloc[0]["recorded_by"] == "bob"
    with alice.engine.begin() as conn:  # a row as planeval wrote it before recorders were stored
        conn.execute(text("UPDATE runs SET recorded_by = NULL, recorded_host = NULL"))
    legacy = alice.record(make_run(), ppl_metrics(23.0))
    assert legacy.kept_as == "run" and "by an unknown recorder (written before" in legacy.message
    assert caplog.records[-1].levelname == "WARNING"


def test_concurrent_recorders_of_one_new_run_keep_both(tmp_path: Path) -> None:
    path = tmp_path / "lb.db"
    Store(path).close()
    done = record_at_once(path, 4)
    assert sorted(d.kept_as for d in done) == ["replicate", "replicate", "replicate", "run"]
    store = Store(path)
    assert len(store.runs()) == 1 and len(store.replicates()) == 3


def test_a_missing_postgresql_driver_is_one_line_naming_the_extra(monkeypatch, capsys) -> None:
    for name in [m for m in sys.modules if m == "psycopg" or m.startswith("psycopg.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg now fails: not installed
    url = "postgresql://alice:s3cret@db.example:5432/board"
    with pytest.raises(PlanevalError) as err:
        Store(url)
    message = str(err.value)
    assert "pip install 'planeval[postgres]'" in message and "psycopg" in message
    assert "s3cret" not in message and "\n" not in message
    assert main(["leaderboard", "--db", url]) != 0
    out = capsys.readouterr()
    assert out.err.strip().count("\n") == 0 and "planeval[postgres]" in out.err and "Traceback" not in out.err
