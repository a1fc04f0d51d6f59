"""An old leaderboard (metric rows without ``base``/``dims``) gains the columns when opened, and its
rows' structure comes from their tasks' declarations, not from their names."""

from __future__ import annotations

from pathlib import Path

from _leaderboard_data import Fixture
from _store_schemas import written_by
from _task_tables import rouge

from leaderboard.select import is_breakdown, select_metrics
from leaderboard.store import Store


def _strip_structure(path: Path) -> None:
    """The database as a planeval before the columns left it (SQLite drops columns since 3.35)."""
    store = Store(path)
    written_by(store.engine, "samples")
    store.close()


def test_an_old_database_gets_its_rows_structure_from_the_tasks(tmp_path: Path) -> None:
    path = tmp_path / "lb.db"
    fx = Fixture(Store(path), tmp_path / "cache")
    params = {"n_prompts": 20, "lengths": [32, 64]}
    fx.record("a", "lm", "rouge", "rouge", params, rouge(20, 0.5, 0))
    fx.record("b", "lm", "gone", "rouge", params, rouge(20, 0.6, 1))
    before = fx.store.results().set_index(["variant", "metric"])[["base", "dims"]]
    fx.store.close()
    _strip_structure(path)
    for cached in (tmp_path / "cache").rglob("samples.parquet"):
        if fx.run_ids[("b", "gone", 0)] in str(cached):
            cached.unlink()  # run b's table is gone: its rows stay "not known"

    store = Store(path)
    rows = store.results().set_index(["variant", "metric"])
    a = rows.loc["a"]
    assert a.loc["rouge1@64", "base"] == "rouge1" and a.loc["rouge1@64", "dims"] == {"length": 64}
    assert a[["base", "dims"]].to_dict() == before.loc["a"].to_dict()
    assert rows.loc["b"]["base"].isna().all() and rows.loc["b"]["dims"].isna().all()
    shown = select_metrics(store.results(), None)
    assert set(shown[shown["variant"] == "a"]["metric"]) == {"rouge1", "rouge2", "rougeL", "rougeLsum"}
    assert not is_breakdown(shown[shown["variant"] == "b"]).any()  # not known: shown, as values
    store.close()
