"""Leaderboard databases as older planevals left them, for the migration tests.

``create_previous`` creates the tables the way planeval did before schema revisions existed
(``Base.metadata.create_all`` of the store's models, spelled out here as they were at three points:
``first``, 1f8f2cd, runs and metrics; ``samples``, 08ee534, plus run_samples and rescored_from;
``previous``, 5c8521a, plus metrics.base/dims), with no version table. ``written_by`` turns
a database the current store wrote, rows and all, into what an older planeval would have left.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from leaderboard import migrations

#: the revision each older planeval's tables correspond to
REVISION = {"first": "0001", "samples": "0003", "previous": "0004"}


def previous_metadata(stage: str) -> MetaData:
    """The tables of planeval's store at ``stage`` ("first", "samples" or "previous")."""
    md = MetaData()
    Table(
        "runs",
        md,
        Column("run_id", String(64), primary_key=True),
        Column("suite", String(200), nullable=False, index=True),
        Column("variant", String(200), nullable=False, index=True),
        Column("family", String(200), nullable=False),
        Column("task", String(200), nullable=False, index=True),
        Column("task_name", String(200), nullable=False),
        Column("seed", Integer, nullable=False),
        Column("config_hash", String(64), nullable=False),
        Column("model_key", String(64), nullable=False),
        Column("eval_key", String(64), nullable=False),
        Column("git_commit", String(64), nullable=False),
        Column("package_versions", JSON, nullable=False),
        Column("timings", JSON, nullable=False),
        Column("params", JSON, nullable=False),
        Column("status", String(16), nullable=False),
        Column("error", Text),
        Column("samples_path", Text),
        Column("created_at", DateTime, nullable=False),
        UniqueConstraint("suite", "variant", "eval_key", name="uq_runs_suite_variant_eval_key"),
        CheckConstraint("status IN ('ok', 'failed')", name="ck_runs_status"),
    )
    structure = [Column("base", String(200)), Column("dims", JSON)] if stage == "previous" else []
    Table(
        "metrics",
        md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("run_id", ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False, index=True),
        Column("name", String(200), nullable=False),
        Column("value", Float, nullable=False),
        Column("n", Integer, nullable=False),
        Column("ci_low", Float),
        Column("ci_high", Float),
        Column("higher_is_better", Boolean, nullable=False),
        *structure,
        UniqueConstraint("run_id", "name", name="uq_metrics_run_name"),
    )
    if stage != "first":
        Table(
            "run_samples",
            md,
            Column("run_id", ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
            Column("digest", String(64), nullable=False),
            Column("n_rows", Integer, nullable=False),
            Column("data", LargeBinary, nullable=False),
        )
        Table(
            "rescored_from",
            md,
            Column("run_id", ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
            Column("source_run_id", String(64), nullable=False, index=True),
        )
    return md


def create_previous(engine: Engine, stage: str = "previous") -> MetaData:
    """An empty database as planeval at ``stage`` created it; returns its tables (to insert rows)."""
    md = previous_metadata(stage)
    md.create_all(engine)
    return md


def written_by(engine: Engine, stage: str) -> None:
    """A database the current store wrote, taken back to what planeval at ``stage`` would have left:
    the later revisions downgraded (their columns and tables dropped, rows kept) and no version table."""
    migrations.downgrade(engine, REVISION[stage])
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE {migrations.VERSION_TABLE}"))
