"""The leaderboard store: one row per evaluation run and one per metric, in any SQL database.

SQLite (a file) is the default because a leaderboard must survive without a server; a team shares one
PostgreSQL database (``postgresql://user@host/db``, the ``planeval[postgres]`` extra), and the schema is
plain SQLAlchemy so other servers work the same. Opening a database upgrades its schema
(``leaderboard.migrations``). ``record`` is one transaction, so a crash while writing never leaves a run
without its metrics; each row names who recorded it, and another recorder's recording of the same run is
kept as a replicate, never dropped.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import io
import logging
import math
import os
import socket
import sqlite3
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    inspect,
    null,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, NoSuchModuleError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker

from harness.errors import PlanevalError
from leaderboard import migrations

SQLITE_BUSY_TIMEOUT_MS = 30_000  # parallel runners writing one file wait rather than fail
log = logging.getLogger("planeval.store")


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC, reads back timezone-aware UTC (SQLite drops the zone, so re-attach it on read)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("created_at must be timezone-aware")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (
        # one row per variant name: two names with identical configs share an eval key, not a row
        UniqueConstraint("suite", "variant", "eval_key", name="uq_runs_suite_variant_eval_key"),
        CheckConstraint("status IN ('ok', 'failed')", name="ck_runs_status"),
    )

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    suite: Mapped[str] = mapped_column(String(200), index=True)
    variant: Mapped[str] = mapped_column(String(200), index=True)
    family: Mapped[str] = mapped_column(String(200))
    task: Mapped[str] = mapped_column(String(200), index=True)
    task_name: Mapped[str] = mapped_column(String(200))
    seed: Mapped[int] = mapped_column(Integer)
    config_hash: Mapped[str] = mapped_column(String(64))
    model_key: Mapped[str] = mapped_column(String(64))
    eval_key: Mapped[str] = mapped_column(String(64))
    git_commit: Mapped[str] = mapped_column(String(64))
    package_versions: Mapped[dict[str, Any]] = mapped_column(JSON)
    timings: Mapped[dict[str, Any]] = mapped_column(JSON)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="ok")
    error: Mapped[str | None] = mapped_column(Text)
    samples_path: Mapped[str | None] = mapped_column(Text)
    #: when the row was recorded (UTC)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: who recorded it (``Recorder``); NULL in rows written before recorders were stored (deferred: a
    #: read-only database that could not gain the columns still loads its runs)
    recorded_by: Mapped[str | None] = mapped_column(String(200), deferred=True)
    recorded_host: Mapped[str | None] = mapped_column(String(255), deferred=True)
    #: the resolved window, dtype, device and batch size of the evaluated model (revision 0006)
    model_settings: Mapped[dict[str, Any] | None] = mapped_column(JSON, deferred=True)
    #: ``planeval run --limit N``: a quick look at N items per task, kept out of default tables
    item_limit: Mapped[int | None] = mapped_column(Integer, deferred=True)

    metrics: Mapped[list[Metric]] = relationship(
        back_populates="run", cascade="all, delete-orphan", passive_deletes=True
    )


class Metric(Base):
    __tablename__ = "metrics"
    __table_args__ = (UniqueConstraint("run_id", "name", name="uq_metrics_run_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    value: Mapped[float] = mapped_column(Float)  # NOT NULL: SQLite turns NaN into NULL, so NaN fails too
    n: Mapped[int] = mapped_column(Integer)
    ci_low: Mapped[float | None] = mapped_column(Float)
    ci_high: Mapped[float | None] = mapped_column(Float)
    higher_is_better: Mapped[bool] = mapped_column(Boolean, default=True)
    #: the task's declared metric this value is of, and its breakdown coordinates ({"length": 64}; {}
    #: for the value over all samples): NULL in rows written before they were stored
    #: (deferred: a read-only database that could not gain them still loads its metrics)
    base: Mapped[str | None] = mapped_column(String(200), deferred=True)
    dims: Mapped[dict[str, Any] | None] = mapped_column(JSON, deferred=True)

    run: Mapped[Run] = relationship(back_populates="metrics")


class Samples(Base):
    """A run's per-sample table (parquet bytes) in the database itself, so that CIs, paired tests,
    ``show`` and re-scoring work from any folder, home or machine that reaches the database, and after
    the cache that produced it is gone. The digest names the content (verified on read)."""

    __tablename__ = "run_samples"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    n_rows: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class RescoredFrom(Base):
    """The run a ``planeval score`` row was re-scored from (its per-sample table, not its model). A
    table of its own, so databases written before it existed open unchanged; no foreign key on the
    source, which may be re-recorded (deleted and written again under the same id) after the link."""

    __tablename__ = "rescored_from"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True)
    source_run_id: Mapped[str] = mapped_column(String(64), index=True)


class Replicate(Base):
    """Another recorder's recording of a run already in ``runs`` (the same run id, so the same config
    and eval key), kept beside it rather than replacing it: its provenance, metrics and per-sample
    digest; the table's bytes only where they differ from the run's own. One per (run, recorder): a
    recorder's later recording replaces its own replicate. No foreign key: the run it replicates may be
    re-recorded (deleted and written again under the same id) by its own recorder."""

    __tablename__ = "run_replicates"
    __table_args__ = (
        UniqueConstraint("run_id", "recorded_by", "recorded_host", name="uq_run_replicates_run_recorder"),
        CheckConstraint("status IN ('ok', 'failed')", name="ck_run_replicates_status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(64), index=True)
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_host: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    git_commit: Mapped[str] = mapped_column(String(64))
    package_versions: Mapped[dict[str, Any]] = mapped_column(JSON)
    timings: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: [{"name", "value", "n", "ci_low", "ci_high", "higher_is_better", "base", "dims"}, ...]
    metrics: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    samples_digest: Mapped[str | None] = mapped_column(String(64))
    n_rows: Mapped[int | None] = mapped_column(Integer)
    samples: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)


class TrainingHistory(Base):
    """A trained model's full training history (``history.jsonl``: every logged step of every phase)
    and its trainer's summary (``training.json``), so training curves are read from the database alone.
    One row per train key; recording it again replaces it (the history of one key is one training)."""

    __tablename__ = "training_histories"

    train_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    suite: Mapped[str] = mapped_column(String(200), index=True)
    variant: Mapped[str] = mapped_column(String(200))
    family: Mapped[str] = mapped_column(String(100))
    seed: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_host: Mapped[str] = mapped_column(String(255))
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: [{"phase": "lm", "step": 1, "loss": 4.1, "lr": 0.002, ...}, ...]
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


@dataclass(frozen=True)
class Recorder:
    """Who records a run: the user (env ``PLANEVAL_USER``, else the login name) and the host. Two
    recorders are two people or two machines; the same recorder re-recording a run replaces its row."""

    user: str
    host: str

    @classmethod
    def current(cls) -> Recorder:
        user = os.environ.get("PLANEVAL_USER", "").strip()
        if not user:
            try:
                user = getpass.getuser()
            except (KeyError, OSError):  # a uid without a passwd entry (containers)
                user = f"uid{os.getuid()}" if hasattr(os, "getuid") else "unknown"
        return cls(user, socket.gethostname() or "localhost")

    def __str__(self) -> str:
        return f"{self.user}@{self.host}"


@dataclass(frozen=True)
class Recorded:
    """What ``Store.record`` did with a recording."""

    run_id: str
    kept_as: str  # "run": the run's row; "replicate": a replicate of another recorder's row
    message: str | None = None  # one line, when another recorder's row was met (also logged)


@dataclass
class RunRecord:
    """What the runner knows about one (variant, task, seed) evaluation."""

    run_id: str
    suite: str
    variant: str
    family: str
    task: str
    task_name: str
    seed: int
    config_hash: str
    model_key: str
    eval_key: str
    git_commit: str
    package_versions: dict[str, Any]
    timings: dict[str, Any]
    params: dict[str, Any]
    status: str = "ok"
    error: str | None = None
    samples_path: str | None = None
    model_settings: dict[str, Any] | None = None
    item_limit: int | None = None


@dataclass
class MetricRecord:
    """One aggregate score of a run; the CI bounds are absent when the task did not bootstrap."""

    name: str
    value: float
    n: int
    ci_low: float | None = None
    ci_high: float | None = None
    higher_is_better: bool = True
    base: str | None = None  # the declared metric (``tasks.base.MetricKey``); None: not known
    dims: dict[str, Any] | None = None  # its breakdown coordinates; None: not known


RUN_COLUMNS = [c.name for c in Run.__table__.columns]
REPLICATE_COLUMNS = [
    "run_id", "recorded_by", "recorded_host", "created_at", "status", "error", "git_commit",
    "package_versions", "timings", "metrics", "samples_digest", "n_rows", "same_samples",
]  # fmt: skip


RESULT_SOURCES = [
    Run.run_id, Run.suite, Run.variant, Run.family, Run.task, Run.seed,
    Metric.name.label("metric"), Metric.value, Metric.n, Metric.ci_low, Metric.ci_high,
    Metric.higher_is_better, Metric.base, Metric.dims,
    Run.config_hash, Run.model_key, Run.git_commit,
]  # fmt: skip
RESULT_COLUMNS = [c.name for c in RESULT_SOURCES]
#: the same columns from a database without ``base``/``dims`` (NULL: not known)
_UNSTRUCTURED_SOURCES = [null().label(c.name) if c.name in ("base", "dims") else c for c in RESULT_SOURCES]


def limited_label(variant: str, limit: int) -> str:
    """How a ``--limit`` run's variant reads in a table that includes it."""
    return f"{variant} [limit {limit}]"


def unmarked(variant: str) -> str:
    """A variant name without ``limited_label``'s mark."""
    head, sep, tail = variant.rpartition(" [limit ")
    return head if sep and tail.endswith("]") and tail[:-1].isdigit() else variant


def as_url(url_or_path: str | Path) -> str:
    """A SQL URL; a bare path means a SQLite file, which is what a CLI user usually types."""
    text = str(url_or_path)
    return text if "://" in text else f"sqlite:///{Path(text).expanduser()}"


def with_default_driver(parsed: URL) -> URL:
    """``postgresql://`` (and ``postgres://``) mean psycopg 3, the driver of ``planeval[postgres]``;
    SQLAlchemy's own default for them is psycopg2. An explicit ``+driver`` is kept."""
    if parsed.drivername in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    return parsed


def shown(url: str) -> str:
    """A URL as messages print it: its password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _make_engine(url: URL) -> Engine:
    if url.get_backend_name() != "sqlite":
        # a runner holds its engine through hours of training: a server may drop idle connections
        return create_engine(url, pool_pre_ping=True)
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")  # off by default in SQLite: cascades would not fire
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if database and database != ":memory:":
            with contextlib.suppress(sqlite3.OperationalError):  # a read-only file keeps its mode
                cur.execute("PRAGMA journal_mode=WAL")  # readers (a dashboard) do not block the runner
        cur.close()

    return engine


def _finite_or_none(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else float(x)


#: what to install for a dialect whose driver is missing
_DRIVER_HINTS = {
    "postgresql": "pip install 'planeval[postgres]'",
    "mysql": "mysqlclient or PyMySQL (URL mysql+pymysql://…)",
    "mssql": "pyodbc",
    "oracle": "oracledb",
}


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _missing_driver(url: str, parsed: URL, exc: ImportError) -> PlanevalError:
    hint = _DRIVER_HINTS.get(parsed.get_backend_name(), "its DBAPI package")
    return PlanevalError(
        f"--db {shown(url)}: the {parsed.get_backend_name()} driver {exc.name or parsed.get_driver_name()!r}"
        f" is not installed; {hint}"
    )


def open_engine(url: str) -> Engine:
    """An engine for a leaderboard URL, or a one-line ``PlanevalError`` naming what is wrong with it
    (not a URL, an unknown dialect, a missing driver, a SQLite path that is a folder)."""
    try:
        parsed = with_default_driver(make_url(url))
    except ArgumentError:
        raise PlanevalError(
            f"--db {url!r}: not a database URL (e.g. sqlite:///board.db, postgresql://user@host/db)"
        ) from None
    try:
        parsed.get_dialect()
    except NoSuchModuleError:
        raise PlanevalError(f"--db {shown(url)}: unknown database dialect {parsed.drivername!r}") from None
    except ImportError as exc:
        raise _missing_driver(url, parsed, exc) from None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            path = Path(database)
            if path.is_dir():
                raise PlanevalError(f"--db {url}: {path} is a directory, not a SQLite file")
            if path.parent.exists() and not path.parent.is_dir():
                raise PlanevalError(f"--db {url}: {path.parent} is not a directory")
    try:
        return _make_engine(parsed)
    except ImportError as exc:
        raise _missing_driver(url, parsed, exc) from None
    except OSError as exc:
        raise PlanevalError(f"--db {shown(url)}: {exc.strerror or exc}") from None


def check_writable(url: str) -> None:
    """Open the leaderboard and prove it can be written, before a run does any work: a read-only or
    unreachable database found after hours of training would lose the results' rows."""
    store = Store(url)
    probe = f"planeval_write_probe_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        store.require_current()
        with store.engine.begin() as conn:
            conn.execute(text(f"CREATE TABLE {probe} (x INTEGER)"))
            conn.execute(text(f"DROP TABLE {probe}"))
    except DBAPIError as exc:
        raise PlanevalError(
            f"--db {shown(store.url)}: cannot write to the leaderboard: {_first_line(exc)}"
        ) from None
    finally:
        store.close()


def cached_samples(run: Any) -> pd.DataFrame | None:
    """The per-sample table at the cache path a run row names, while that file still exists."""
    path = run.get("samples_path")
    if path and Path(path).exists():
        return pd.read_parquet(path)
    return None


def _metric_rows(metrics: list[MetricRecord]) -> list[dict[str, Any]]:
    return [
        {
            "name": m.name,
            "value": float(m.value),
            "n": int(m.n),
            "ci_low": _finite_or_none(m.ci_low),
            "ci_high": _finite_or_none(m.ci_high),
            "higher_is_better": bool(m.higher_is_better),
            "base": m.base,
            "dims": m.dims,
        }
        for m in metrics
    ]


def _when(at: datetime | None) -> str:
    return "an unknown time" if at is None else at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _agreement(
    run: RunRecord, metrics: list[MetricRecord], theirs: dict[str, float], same_table: bool, both: bool
) -> str:
    """How a replicate compares with the row it replicates, in a few words."""
    if run.status == "failed":
        error = (run.error or "").strip().splitlines()
        return f"it failed: {error[0][:100] if error else 'no error text'}"
    if same_table:
        return "the same per-sample table"
    differ = [
        (m.name, theirs[m.name], float(m.value))
        for m in metrics
        if m.name in theirs and not math.isclose(theirs[m.name], m.value, rel_tol=1e-9, abs_tol=1e-12)
    ]
    table = "a different per-sample table" if both else "per-sample tables not both stored"
    if not differ:
        return f"{table}, the same metric values"
    name, a, b = max(differ, key=lambda d: abs(d[2] - d[1]) / max(abs(d[1]), 1e-12))
    return f"{table}; {len(differ)} of {len(metrics)} metrics differ, e.g. {name} {a:.6g} vs {b:.6g}"


class Store:
    """Record runs and read them back as data frames for tables, plots and regression checks."""

    def __init__(self, url: str | Path, recorder: Recorder | None = None):
        self.url = as_url(url)
        self.engine = open_engine(self.url)
        #: who this store's recordings are by (default: this user on this host)
        self.recorder = recorder or Recorder.current()
        try:
            self.schema = migrations.upgrade(self.engine)
            #: the columns each table has (all of them once upgraded; fewer in an old read-only copy)
            self.columns = {
                name: (
                    {c.name for c in table.columns}
                    if self.schema.current
                    else {c["name"] for c in inspect(self.engine).get_columns(name)}
                )
                for name, table in Base.metadata.tables.items()
                if self.schema.current or inspect(self.engine).has_table(name)
            }
        except DBAPIError as exc:
            self.engine.dispose()
            raise PlanevalError(
                f"--db {shown(self.url)}: cannot open the leaderboard: {_first_line(exc)}"
            ) from None
        #: whether the metric rows have ``base``/``dims`` (an old read-only database may not)
        self.structured = {"base", "dims"} <= self.columns.get("metrics", set())
        self._session = sessionmaker(self.engine, expire_on_commit=False)
        if "0004" in self.schema.applied and self.schema.before is not None:
            # an old database gained base/dims: its rows' structure from their tasks, once
            from leaderboard.migrate import fill_metric_keys

            fill_metric_keys(self)

    def close(self) -> None:
        self.engine.dispose()

    def require_current(self) -> None:
        """Refuse to write to a database whose schema could not be upgraded (opened read-only)."""
        if not self.schema.current:
            raise PlanevalError(
                f"--db {shown(self.url)}: the leaderboard's schema is at revision {self.schema.after}, "
                f"this planeval writes {migrations.head()}, and it could not be upgraded: {self.schema.error}"
            )

    # -- writing --------------------------------------------------------------------------------
    def record(
        self,
        run: RunRecord,
        metrics: list[MetricRecord],
        samples: bytes | None = None,
        rescored_from: str | None = None,
    ) -> Recorded:
        """Write a run, its metrics, its per-sample table (parquet bytes) and, for a re-scored run, the
        run it was re-scored from, atomically, stamped with this store's recorder.

        The same run (its id, or its suite, variant and eval key) already recorded successfully by
        another recorder keeps its row: this recording is kept as its replicate (``run_replicates``)
        and a one-line warning names who recorded it first. This recorder's own earlier row, a failed
        row, and a row from before recorders were stored are replaced (the last with a warning).
        """
        if run.status not in ("ok", "failed"):
            raise ValueError(f"run status must be 'ok' or 'failed', not {run.status!r}")
        if run.status == "failed" and metrics:
            raise ValueError(f"run {run.run_id} failed, so it must carry no metrics (got {len(metrics)})")
        for m in metrics:
            if m.value is None or math.isnan(m.value):
                raise ValueError(f"metric {m.name!r} of run {run.run_id} is NaN; record the run as failed")
        self.require_current()
        for attempt in range(3):
            try:
                with self._session.begin() as session:
                    outcome, level = self._write(session, run, metrics, samples, rescored_from)
                break
            except IntegrityError:
                # two recorders inserting one new run at once (PostgreSQL lets both find no row): the
                # later one finds the earlier one's row when it tries again, and becomes its replicate
                if attempt == 2 or not self._has_row(run):
                    raise
        if outcome.message:
            log.log(level, outcome.message)
        return outcome

    @staticmethod
    def _same_run(run: RunRecord) -> Any:
        return or_(
            Run.run_id == run.run_id,
            (Run.suite == run.suite) & (Run.variant == run.variant) & (Run.eval_key == run.eval_key),
        )

    def _has_row(self, run: RunRecord) -> bool:
        with self._session() as session:
            return session.execute(select(Run.run_id).where(self._same_run(run))).first() is not None

    def _write(
        self,
        session: Session,
        run: RunRecord,
        metrics: list[MetricRecord],
        samples: bytes | None,
        rescored_from: str | None,
    ) -> tuple[Recorded, int]:
        """One recording inside its transaction; returns what was done and the message's log level."""
        same = self._same_run(run)
        # a write first: SQLite takes its write lock at once (no read→write upgrade deadlock), and a
        # server locks the rows this recording may replace until it commits
        session.execute(
            update(Run).where(same).values(status=Run.status).execution_options(synchronize_session=False)
        )
        old = session.execute(
            select(Run.run_id, Run.recorded_by, Run.recorded_host, Run.status, Run.created_at).where(same)
        ).all()
        me = self.recorder
        others = [o for o in old if (o.recorded_by, o.recorded_host) != (me.user, me.host)]
        first = next((o for o in others if o.status == "ok" and o.recorded_by is not None), None)
        table = None
        if samples is not None:
            table = (
                pq.ParquetFile(io.BytesIO(samples)).metadata.num_rows,
                hashlib.sha256(samples).hexdigest(),
            )
        if first is not None:
            return self._write_replicate(session, first, run, metrics, samples, table), logging.WARNING
        message, level = self._replacing(run, others)
        ids = [o.run_id for o in old]
        session.execute(delete(Metric).where(Metric.run_id.in_(ids)))
        session.execute(delete(Samples).where(Samples.run_id.in_(ids)))
        session.execute(delete(RescoredFrom).where(RescoredFrom.run_id.in_(ids)))
        session.execute(delete(Run).where(Run.run_id.in_(ids)))
        row = Run(**asdict(run), created_at=utcnow(), recorded_by=me.user, recorded_host=me.host)
        row.metrics = [Metric(**m) for m in _metric_rows(metrics)]
        session.add(row)
        if samples is not None and table is not None:
            session.flush()  # the run row first: the samples row references it
            session.add(Samples(run_id=run.run_id, digest=table[1], n_rows=table[0], data=samples))
        if rescored_from is not None:
            session.flush()
            session.add(RescoredFrom(run_id=run.run_id, source_run_id=rescored_from))
        return Recorded(run.run_id, "run", message), level

    @staticmethod
    def _label(run: RunRecord) -> str:
        return f"run {run.run_id[:12]} ({run.variant} / {run.task}, seed {run.seed})"

    def _replacing(self, run: RunRecord, others: list[Any]) -> tuple[str | None, int]:
        """What replacing rows of other recorders (none successful and known) says, at which level: a
        warning for a successful row whose recorder is not known (written before recorders were
        stored), the one case where someone else's result may be replaced; a note for a failed one."""
        legacy = [o for o in others if o.status == "ok"]
        if legacy:
            return (
                f"{self._label(run)}: replaces its row recorded at {_when(legacy[0].created_at)} by an "
                "unknown recorder (written before planeval stored recorders)",
                logging.WARNING,
            )
        if others:
            by = "an unknown recorder" if others[0].recorded_by is None else others[0].recorded_by
            host = "" if others[0].recorded_by is None else f"@{others[0].recorded_host}"
            return f"{self._label(run)}: replaces a failed recording by {by}{host}", logging.INFO
        return None, logging.INFO

    def _write_replicate(
        self,
        session: Session,
        first: Any,
        run: RunRecord,
        metrics: list[MetricRecord],
        samples: bytes | None,
        table: tuple[int, str] | None,
    ) -> Recorded:
        """Keep a recording of ``first``'s run by this recorder beside it, replacing this recorder's
        earlier replicate of it; returns the one-line report."""
        me = self.recorder
        theirs_digest = session.scalar(select(Samples.digest).where(Samples.run_id == first.run_id))
        same_table = table is not None and table[1] == theirs_digest
        session.execute(
            delete(Replicate).where(
                (Replicate.run_id == first.run_id)
                & (Replicate.recorded_by == me.user)
                & (Replicate.recorded_host == me.host)
            )
        )
        session.add(
            Replicate(
                run_id=first.run_id,
                recorded_by=me.user,
                recorded_host=me.host,
                created_at=utcnow(),
                status=run.status,
                error=run.error,
                git_commit=run.git_commit,
                package_versions=run.package_versions,
                timings=run.timings,
                metrics=_metric_rows(metrics),
                samples_digest=table[1] if table else None,
                n_rows=table[0] if table else None,
                samples=None if same_table else samples,
            )
        )
        session.flush()
        count = len(session.scalars(select(Replicate.id).where(Replicate.run_id == first.run_id)).all())
        theirs = dict(
            session.execute(select(Metric.name, Metric.value).where(Metric.run_id == first.run_id)).all()
        )
        agreement = _agreement(
            run, metrics, theirs, same_table, table is not None and theirs_digest is not None
        )
        return Recorded(
            first.run_id,
            "replicate",
            f"{self._label(run)} was recorded first by {first.recorded_by}@{first.recorded_host} at "
            f"{_when(first.created_at)}; this recording by {me} is kept as its replicate ({agreement}; "
            f"{count} in run_replicates)",
        )

    def load_samples(self, run: Any) -> pd.DataFrame | None:
        """A run's (a row of ``runs`` or ``get_run``) per-sample table: from the database, else — rows
        recorded before tables were stored there — from its cache file while that still exists. The
        ``SampleLoader`` of paired tests, CIs, ``show`` and the plots."""
        found = self.samples(str(run["run_id"]))
        return found if found is not None else cached_samples(run)

    def samples(self, run_id: str) -> pd.DataFrame | None:
        """A run's per-sample table from the database (None when it was recorded without one)."""
        data = self.sample_bytes(run_id)
        return None if data is None else pd.read_parquet(io.BytesIO(data))

    def sample_bytes(self, run_id: str) -> bytes | None:
        """A run's per-sample table as the parquet bytes recorded, checked against their digest (so a
        re-scored run can carry the very same table)."""
        with self._session() as session:
            row = session.get(Samples, run_id)
            if row is None:
                return None
            data, digest = bytes(row.data), row.digest
        if hashlib.sha256(data).hexdigest() != digest:
            raise PlanevalError(f"run {run_id}: its per-sample table in {shown(self.url)} fails its digest")
        return data

    # -- reading --------------------------------------------------------------------------------
    def has_run(self, run_id: str) -> bool:
        """Whether a successful run exists, so the runner can skip it (failed runs are retried)."""
        with self._session() as session:
            stmt = select(Run.run_id).where(Run.run_id == run_id, Run.status == "ok")
            return session.execute(stmt).first() is not None

    def runs(self, suite: str | None = None, status: str | None = "ok") -> pd.DataFrame:
        """One row per run (``status=None`` for all), oldest first."""
        stmt = select(*self._run_sources()).order_by(Run.created_at, Run.run_id)
        if suite is not None:
            stmt = stmt.where(Run.suite == suite)
        if status is not None:
            stmt = stmt.where(Run.status == status)
        with self._session() as session:
            rows = session.execute(stmt).all()
        return pd.DataFrame([tuple(r) for r in rows], columns=RUN_COLUMNS)

    def results(
        self,
        suite: str | None = None,
        variants: list[str] | None = None,
        tasks: list[str] | None = None,
        seeds: list[int] | None = None,
        latest: bool = True,
        include_limited: bool = False,
    ) -> pd.DataFrame:
        """Long form, one row per (ok run, metric).

        With ``latest`` (the default) only the newest run of each (suite, variant, task, seed) counts:
        a changed config gets a new eval key and a new run, and the stale one must not be averaged in.
        Runs of ``planeval run --limit N`` are left out unless ``include_limited``; then their variant
        reads ``<variant> [limit N]``, a row of its own, never mixed with the full evaluation's.
        """
        has_limit = "item_limit" in self.columns.get("runs", set())
        limit = Run.item_limit if has_limit else null().label("item_limit")
        stmt = (
            select(*(RESULT_SOURCES if self.structured else _UNSTRUCTURED_SOURCES), Run.created_at, limit)
            .join(Metric, Metric.run_id == Run.run_id)
            .where(Run.status == "ok")
            .order_by(Run.suite, Run.family, Run.variant, Run.task, Run.seed, Metric.name)
        )
        if has_limit and not include_limited:
            stmt = stmt.where(Run.item_limit.is_(None))
        if suite is not None:
            stmt = stmt.where(Run.suite == suite)
        if variants is not None:
            stmt = stmt.where(Run.variant.in_([unmarked(v) for v in variants]))
        if tasks is not None:
            stmt = stmt.where(Run.task.in_(tasks))
        if seeds is not None:
            stmt = stmt.where(Run.seed.in_(seeds))
        with self._session() as session:
            rows = session.execute(stmt).all()
        df = pd.DataFrame([tuple(r) for r in rows], columns=[*RESULT_COLUMNS, "created_at", "item_limit"])
        limited = df["item_limit"].notna()
        if limited.any():
            df.loc[limited, "variant"] = [
                limited_label(v, int(n))
                for v, n in zip(df["variant"][limited], df["item_limit"][limited], strict=True)
            ]
            if variants is not None:
                asked = df["variant"].isin(variants) | (limited & df["variant"].map(unmarked).isin(variants))
                df = df[asked]
        df = df.drop(columns="item_limit")
        if latest and not df.empty:
            key = ["suite", "variant", "task", "seed"]
            newest = df.groupby(key, sort=False)["created_at"].transform("max")
            df = df[df["created_at"] == newest]
            # two runs stamped in the same instant: keep one deterministically
            df = df[df["run_id"] == df.groupby(key, sort=False)["run_id"].transform("max")]
        return df.drop(columns="created_at").reset_index(drop=True)

    def get_run(self, run_id_or_prefix: str) -> dict[str, Any]:
        """A run (any status) with its metrics, by full id or unique prefix, as a CLI user types it."""
        with self._session() as session:
            stmt = (
                select(Run)
                .where(Run.run_id.startswith(run_id_or_prefix, autoescape=True))
                .order_by(Run.run_id)
                .limit(11)
            )
            found = list(session.scalars(stmt))
            exact = [r for r in found if r.run_id == run_id_or_prefix]
            if exact:
                found = exact
            if not found:
                raise PlanevalError(f"no run with id or prefix {run_id_or_prefix!r} in {shown(self.url)}")
            if len(found) > 1:
                listed = ", ".join(f"{r.run_id} ({r.variant}/{r.task}/seed {r.seed})" for r in found[:10])
                more = " and more" if len(found) > 10 else ""
                raise PlanevalError(
                    f"run prefix {run_id_or_prefix!r} is ambiguous: {listed}{more}; type more characters"
                )
            run = found[0]
            row = session.execute(select(*self._run_sources()).where(Run.run_id == run.run_id)).one()
            out = dict(zip(RUN_COLUMNS, row, strict=True))
            link = session.get(RescoredFrom, run.run_id)
            out["rescored_from"] = link.source_run_id if link is not None else None
            structure: dict[str, tuple[Any, Any]] = {}
            if self.structured:
                keys = select(Metric.name, Metric.base, Metric.dims).where(Metric.run_id == run.run_id)
                structure = {name: (base, dims) for name, base, dims in session.execute(keys)}
            out["metrics"] = [
                {
                    "name": m.name,
                    "value": m.value,
                    "n": m.n,
                    "ci_low": m.ci_low,
                    "ci_high": m.ci_high,
                    "higher_is_better": m.higher_is_better,
                    "base": structure.get(m.name, (None, None))[0],
                    "dims": structure.get(m.name, (None, None))[1],
                }
                for m in sorted(run.metrics, key=lambda m: m.name)
            ]
        replicas = self.replicates(run.run_id)
        out["replicates"] = replicas.drop(columns=["run_id", "metrics"]).to_dict("records")
        return out

    def _run_sources(self) -> list[Any]:
        """The columns of ``runs`` to select: NULL for those an old read-only database lacks."""
        have = self.columns.get("runs", set())
        return [c if c.name in have else null().label(c.name) for c in Run.__table__.columns]

    def replicates(self, run_id: str | None = None) -> pd.DataFrame:
        """Other recorders' recordings of runs in ``runs`` (of one run, or of all), oldest first, with
        ``same_samples``: whether the replicate's per-sample table is the run's own, byte for byte."""
        columns = [c for c in REPLICATE_COLUMNS if c != "same_samples"]
        if "run_replicates" not in self.columns:  # an old read-only database: none recorded
            return pd.DataFrame(columns=REPLICATE_COLUMNS)
        stmt = (
            select(*(Replicate.__table__.c[c] for c in columns), Samples.digest)
            .outerjoin(Samples, Samples.run_id == Replicate.run_id)
            .order_by(Replicate.created_at, Replicate.id)
        )
        if run_id is not None:
            stmt = stmt.where(Replicate.run_id == run_id)
        with self._session() as session:
            rows = session.execute(stmt).all()
        df = pd.DataFrame([tuple(r) for r in rows], columns=[*columns, "run_digest"])
        df["same_samples"] = df["samples_digest"].notna() & (df["samples_digest"] == df["run_digest"])
        return df.drop(columns="run_digest")

    def replicate_samples(self, run_id: str, recorder: Recorder) -> pd.DataFrame | None:
        """A replicate's per-sample table: its own bytes, or the run's where they were the same."""
        with self._session() as session:
            row = session.execute(
                select(Replicate.samples, Replicate.samples_digest).where(
                    (Replicate.run_id == run_id)
                    & (Replicate.recorded_by == recorder.user)
                    & (Replicate.recorded_host == recorder.host)
                )
            ).first()
        if row is None or row.samples_digest is None:
            return None
        data = bytes(row.samples) if row.samples is not None else self.sample_bytes(run_id)
        if data is None or hashlib.sha256(data).hexdigest() != row.samples_digest:
            raise PlanevalError(f"run {run_id}: the replicate by {recorder} fails its digest")
        return pd.read_parquet(io.BytesIO(data))

    # -- training histories ------------------------------------------------------------------------
    def record_training(
        self,
        train_key: str,
        *,
        suite: str,
        variant: str,
        family: str,
        seed: int,
        summary: dict[str, Any],
        history: list[dict[str, Any]],
    ) -> None:
        """Write (or replace) one trained model's history and summary, stamped with this recorder."""
        self.require_current()
        row = TrainingHistory(
            train_key=train_key,
            suite=suite,
            variant=variant,
            family=family,
            seed=seed,
            recorded_by=self.recorder.user,
            recorded_host=self.recorder.host,
            summary=_json_safe(summary),
            history=history,
        )
        with self._session.begin() as session:
            session.execute(delete(TrainingHistory).where(TrainingHistory.train_key == train_key))
            session.add(row)

    def has_training(self, train_key: str) -> bool:
        if "training_histories" not in self.columns:
            return False
        with self._session() as session:
            return session.get(TrainingHistory, train_key) is not None

    def training_curves(self, suite: str | None = None, variants: list[str] | None = None) -> pd.DataFrame:
        """Every recorded step as a long table: suite, variant, family, seed, train_key, phase, step,
        name, value (empty, with those columns, when nothing was recorded)."""
        columns = ["suite", "variant", "family", "seed", "train_key", "phase", "step", "name", "value"]
        if "training_histories" not in self.columns:
            return pd.DataFrame(columns=columns)
        query = select(TrainingHistory)
        if suite is not None:
            query = query.where(TrainingHistory.suite == suite)
        if variants:
            query = query.where(TrainingHistory.variant.in_(variants))
        rows = []
        with self._session() as session:
            for t in session.scalars(query):
                for step in t.history:
                    for name, value in step.items():
                        if name not in ("phase", "step"):
                            rows.append(
                                (t.suite, t.variant, t.family, t.seed, t.train_key, step["phase"],
                                 step["step"], name, value)
                            )  # fmt: skip
        return pd.DataFrame(rows, columns=columns)

    def suites(self) -> list[str]:
        with self._session() as session:
            return list(session.scalars(select(Run.suite).distinct().order_by(Run.suite)))


def _json_safe(value: Any) -> Any:
    """A trainer summary as JSON can hold it: non-finite floats become null, other objects their text."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)
