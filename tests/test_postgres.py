"""The leaderboard on a real PostgreSQL server (issue 18, its store part): a server the tests start on
127.0.0.1 (tests/_postgres.py), skipped with the reason where it cannot start. Two homes, as two
people, record one suite into one database; a third home reads its tables and a paired compare; a
database of the previous schema is upgraded; a second recording by someone else is kept as a replicate,
also when two recorders insert the same new run at the same moment."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from _postgres import Server, Unavailable, start
from _store_schemas import create_previous
from sqlalchemy import text
from test_store import make_run, ppl_metrics
from test_store_migrations import ALICE, BOB, open_at_once, record_at_once, schema_diffs, write_previous

from harness.cli import main
from harness.errors import PlanevalError
from leaderboard import migrations
from leaderboard.store import Store, open_engine

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed: pip install 'planeval[postgres]'")


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    try:
        running = start()
    except Unavailable as exc:
        pytest.skip(f"no PostgreSQL server: {exc}")
    yield running
    running.stop()


@pytest.fixture
def db(server: Server) -> str:
    return server.new_database()


def team_suite(folder: Path, variants: list[str]) -> Path:
    """The micro suite (tests/data/include) with a shorter-trained LM (in ``folder/../variants``), as a
    file a home runs."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder.parent / "variants").mkdir(exist_ok=True)
    (folder.parent / "variants" / "team-lm.yaml").write_text(
        "name: team-lm\nfamily: lm\ntrainer: lm\ndescription: micro GPT-2, briefly trained\n"
        "params: {weights: 'preset:micro', max_steps: 30, batch_size: 8, seq_len: 64, lr: 3.0e-3,"
        " warmup_steps: 3, checkpoint_every: 10}\n"
    )
    suite = folder / "team.yaml"
    suite.write_text(
        "name: team\ndescription: two people, one database\n"
        "corpus: {source: synthetic, params: {n_articles: 160}}\n"
        "tokenizer: {kind: bpe, vocab_size: 400}\n"
        f"variants: [{', '.join(variants)}]\nseeds: [0]\n"
        "tasks:\n"
        "  - {name: perplexity, alias: ppl-rolling, params: {mode: rolling}}\n"
        "  - {name: rouge, params: {n_prompts: 3, lengths: [8, 16], min_prefix_tokens: 8}}\n"
    )
    return suite


def test_two_homes_record_into_one_database_and_a_third_reads_and_compares(
    db: str, tmp_path: Path, monkeypatch, capsys, caplog
) -> None:
    """Alice runs the unigram baseline; Bob runs it too (his own home, so he recomputes it) and the LM.
    His unigram rows are replicates of Alice's, with a warning each; Carol, in a third home, reads the
    board and a paired compare from the database alone."""
    alice_suite = team_suite(tmp_path / "alice", ["unigram"])
    bob_suite = team_suite(tmp_path / "bob", ["unigram", "team-lm"])
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PLANEVAL_USER", "alice")
    run = ["--include", str(tmp_path / "variants"), "--db", db, "--no-progress"]
    assert main(["run", str(alice_suite), "--home", "home-a", *run]) == 0
    monkeypatch.setenv("PLANEVAL_USER", "bob")
    caplog.set_level(logging.WARNING, logger="planeval.store")
    assert main(["run", str(bob_suite), "--home", "home-b", *run]) == 0
    replicated = [r.getMessage() for r in caplog.records if "kept as its replicate" in r.getMessage()]
    assert len(replicated) == 2 and all("recorded first by alice@" in m for m in replicated)
    assert all("the same per-sample table" in m for m in replicated)  # unigram: the same numbers
    capsys.readouterr()

    monkeypatch.setenv("PLANEVAL_USER", "carol")
    monkeypatch.chdir(tmp_path / "alice")  # any folder; carol's home holds nothing of theirs
    store = Store(db)
    runs = store.runs(suite="team")
    by = dict(zip(runs["variant"] + "/" + runs["task"], runs["recorded_by"], strict=True))
    assert by == {
        "unigram/ppl-rolling": "alice",
        "unigram/rouge": "alice",
        "team-lm/ppl-rolling": "bob",
        "team-lm/rouge": "bob",
    }
    reps = store.replicates()
    assert set(reps["run_id"]) == set(runs[runs["variant"] == "unigram"]["run_id"])
    assert reps["recorded_by"].eq("bob").all() and reps["same_samples"].all()
    store.close()
    assert main(["leaderboard", "--suite", "team", "--db", db, "--home", "home-c"]) == 0
    board = capsys.readouterr().out
    assert "unigram" in board and "team-lm" in board and "ppl-rolling" in board
    assert main(["compare", "team-lm", "unigram", "--suite", "team", "--db", db, "--n-boot", "200"]) == 0
    out = capsys.readouterr().out
    assert "team-lm vs unigram" in out and "ppl-rolling" in out and "rouge" in out
    assert not (tmp_path / "alice" / "home-c").exists()  # reading wrote no home


def test_a_database_of_the_previous_schema_is_upgraded(db: str) -> None:
    write_previous(db, "previous")
    store = Store(db, ALICE)
    assert (store.schema.before, store.schema.after) == (migrations.BASELINE, migrations.head())
    assert schema_diffs(store) == []
    assert store.get_run(make_run().run_id)["recorded_by"] is None
    assert store.results()["value"].tolist() == [25.0]
    store.record(make_run("b" * 16, variant="new"), ppl_metrics())
    assert store.runs().set_index("variant").loc["new", "recorded_by"] == "alice"
    store.close()


def test_openers_of_one_old_database_at_once_migrate_it_once(db: str) -> None:
    engine = open_engine(db)
    create_previous(engine, "samples")
    engine.dispose()
    opened = open_at_once(db, 4)
    assert sorted(len(s.schema.applied) for s in opened) == [0, 0, 0, 6]
    for s in opened:
        s.close()


def test_a_second_recording_by_someone_else_is_a_replicate(db: str, caplog) -> None:
    alice, bob = Store(db, ALICE), Store(db, BOB)
    alice.record(make_run(), ppl_metrics(25.0))
    caplog.set_level(logging.WARNING, logger="planeval.store")
    kept = bob.record(make_run(), ppl_metrics(26.0))
    assert kept.kept_as == "replicate" and caplog.records[-1].getMessage() == kept.message
    assert "recorded first by alice@lab-1" in kept.message and "perplexity 25 vs 26" in kept.message
    assert alice.results().set_index("metric").loc["perplexity", "value"] == 25.0
    assert bob.replicates()[["recorded_by", "status"]].values.tolist() == [["bob", "ok"]]
    alice.close(), bob.close()


def test_recorders_inserting_one_new_run_at_once_are_all_kept(db: str) -> None:
    """On a server both transactions find no row; the later insert fails on the key and, tried again,
    becomes the earlier one's replicate."""
    Store(db).close()
    done = record_at_once(db, 4)
    assert sorted(d.kept_as for d in done) == ["replicate", "replicate", "replicate", "run"]
    store = Store(db)
    assert len(store.runs()) == 1 and len(store.replicates()) == 3
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM metrics")).scalar() == 1
    store.close()


def test_an_unreachable_server_is_one_line() -> None:
    with pytest.raises(PlanevalError) as err:
        Store("postgresql://alice:s3cret@127.0.0.1:1/board")
    message = str(err.value)
    assert "cannot open the leaderboard" in message and "\n" not in message and "s3cret" not in message
