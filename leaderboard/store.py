"""The leaderboard store: one row per evaluation run and one per metric, in any SQL database.

SQLite (a file) is the default because a leaderboard must survive without a server; the schema is plain
SQLAlchemy so a shared Postgres/MySQL URL works the same. ``record`` is one transaction, so a crash
while writing never leaves a run without its metrics.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
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
    select,
    text,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, sessionmaker

from harness.errors import PlanevalError

SQLITE_BUSY_TIMEOUT_MS = 30_000  # parallel runners writing one file wait rather than fail


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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

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


RESULT_SOURCES = [
    Run.run_id, Run.suite, Run.variant, Run.family, Run.task, Run.seed,
    Metric.name.label("metric"), Metric.value, Metric.n, Metric.ci_low, Metric.ci_high,
    Metric.higher_is_better, Metric.base, Metric.dims,
    Run.config_hash, Run.model_key, Run.git_commit,
]  # fmt: skip
RESULT_COLUMNS = [c.name for c in RESULT_SOURCES]
#: the same columns from a database without ``base``/``dims`` (NULL: not known)
_UNSTRUCTURED_SOURCES = [null().label(c.name) if c.name in ("base", "dims") else c for c in RESULT_SOURCES]


def as_url(url_or_path: str | Path) -> str:
    """A SQL URL; a bare path means a SQLite file, which is what a CLI user usually types."""
    text = str(url_or_path)
    return text if "://" in text else f"sqlite:///{Path(text).expanduser()}"


def _make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url)
    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")  # off by default in SQLite: cascades would not fire
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if database and database != ":memory:":
            cur.execute("PRAGMA journal_mode=WAL")  # readers (a dashboard) do not block the runner
        cur.close()

    return engine


def _create_schema(engine: Engine, attempts: int = 5) -> tuple[list[str], list[str]]:
    """create_all, tolerating parallel runners that create the same fresh database at once.

    create_all checks then creates, so a second process can lose the race with "already exists";
    checking again then sees the winner's tables. Then the columns added since (``ADDED_COLUMNS``):
    returns those it added and those still missing (an old database opened read-only).
    """
    for attempt in range(attempts):
        try:
            Base.metadata.create_all(engine)
            break
        except DBAPIError as exc:
            if "already exists" not in str(exc) or attempt == attempts - 1:
                raise
    return _add_columns(engine)


#: columns added to a table after databases were written without them (nullable, so old rows read
#: as "not known"); ``create_all`` creates missing tables only, so an old database gets them here
ADDED_COLUMNS = {"metrics": ("base", "dims")}


def _add_columns(engine: Engine) -> tuple[list[str], list[str]]:
    """ALTER TABLE ... ADD COLUMN for each added column an existing table lacks (a parallel opener
    adding the same column first is fine: the check runs again); returns (added, still missing: a
    database this process may only read, whose rows then read as "not known")."""
    added: list[str] = []
    missing: list[str] = []
    for table_name, names in ADDED_COLUMNS.items():
        table = Base.metadata.tables[table_name]
        for name in names:
            if name in {c["name"] for c in inspect(engine).get_columns(table_name)}:
                continue
            kind = table.c[name].type.compile(dialect=engine.dialect)
            try:
                with engine.begin() as conn:
                    conn.execute(text(f"ALTER TABLE {table_name} ADD COLUMN {name} {kind}"))
                added.append(f"{table_name}.{name}")
            except DBAPIError:
                if name not in {c["name"] for c in inspect(engine).get_columns(table_name)}:
                    missing.append(f"{table_name}.{name}")
    return added, missing


def _finite_or_none(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else float(x)


#: the driver package to install for a dialect whose default driver is missing
_DRIVER_HINTS = {
    "postgresql": "psycopg (pip install 'psycopg[binary]'; URL postgresql+psycopg://…)",
    "mysql": "mysqlclient or PyMySQL (URL mysql+pymysql://…)",
    "mssql": "pyodbc",
    "oracle": "oracledb",
}


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def open_engine(url: str) -> Engine:
    """An engine for a leaderboard URL, or a one-line ``PlanevalError`` naming what is wrong with it
    (not a URL, an unknown dialect, a missing driver, a SQLite path that is a folder)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise PlanevalError(
            f"--db {url!r}: not a database URL (e.g. sqlite:///board.db, postgresql+psycopg://host/db)"
        ) from None
    try:
        parsed.get_dialect()
    except NoSuchModuleError:
        raise PlanevalError(f"--db {url}: unknown database dialect {parsed.drivername!r}") from None
    except ImportError as exc:
        hint = _DRIVER_HINTS.get(parsed.get_backend_name(), "its DBAPI package")
        raise PlanevalError(
            f"--db {url}: the driver for {parsed.drivername!r} is not installed ({exc.name or exc}); "
            f"install {hint}"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            path = Path(database)
            if path.is_dir():
                raise PlanevalError(f"--db {url}: {path} is a directory, not a SQLite file")
            if path.parent.exists() and not path.parent.is_dir():
                raise PlanevalError(f"--db {url}: {path.parent} is not a directory")
    try:
        return _make_engine(url)
    except ImportError as exc:
        hint = _DRIVER_HINTS.get(parsed.get_backend_name(), "its DBAPI package")
        raise PlanevalError(
            f"--db {url}: the driver is not installed ({exc.name or exc}); install {hint}"
        ) from None
    except OSError as exc:
        raise PlanevalError(f"--db {url}: {exc.strerror or exc}") from None


def check_writable(url: str) -> None:
    """Open the leaderboard and prove it can be written, before a run does any work: a read-only or
    unreachable database found after hours of training would lose the results' rows."""
    store = Store(url)
    probe = f"planeval_write_probe_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        with store.engine.begin() as conn:
            conn.execute(text(f"CREATE TABLE {probe} (x INTEGER)"))
            conn.execute(text(f"DROP TABLE {probe}"))
    except DBAPIError as exc:
        raise PlanevalError(
            f"--db {store.url}: cannot write to the leaderboard: {_first_line(exc)}"
        ) from None
    finally:
        store.close()


def cached_samples(run: Any) -> pd.DataFrame | None:
    """The per-sample table at the cache path a run row names, while that file still exists."""
    path = run.get("samples_path")
    if path and Path(path).exists():
        return pd.read_parquet(path)
    return None


class Store:
    """Record runs and read them back as data frames for tables, plots and regression checks."""

    def __init__(self, url: str | Path):
        self.url = as_url(url)
        self.engine = open_engine(self.url)
        try:
            added, missing = _create_schema(self.engine)
        except DBAPIError as exc:
            self.engine.dispose()
            raise PlanevalError(f"--db {self.url}: cannot open the leaderboard: {_first_line(exc)}") from None
        #: whether the metric rows have the columns added since (ADDED_COLUMNS)
        self.structured = not missing
        self._session = sessionmaker(self.engine, expire_on_commit=False)
        if added:  # an old database, once: its rows' structure from their tasks (leaderboard.migrate)
            from leaderboard.migrate import fill_metric_keys

            fill_metric_keys(self)

    def close(self) -> None:
        self.engine.dispose()

    # -- writing --------------------------------------------------------------------------------
    def record(
        self,
        run: RunRecord,
        metrics: list[MetricRecord],
        samples: bytes | None = None,
        rescored_from: str | None = None,
    ) -> None:
        """Write a run, its metrics, its per-sample table (parquet bytes) and, for a re-scored run, the
        run it was re-scored from, atomically, replacing any earlier row with the same run_id."""
        if run.status not in ("ok", "failed"):
            raise ValueError(f"run status must be 'ok' or 'failed', not {run.status!r}")
        if run.status == "failed" and metrics:
            raise ValueError(f"run {run.run_id} failed, so it must carry no metrics (got {len(metrics)})")
        for m in metrics:
            if m.value is None or math.isnan(m.value):
                raise ValueError(f"metric {m.name!r} of run {run.run_id} is NaN; record the run as failed")
        with self._session.begin() as session:
            # the write comes first so SQLite takes the write lock at once (no read→write upgrade deadlock)
            same = select(Run.run_id).where(
                (Run.run_id == run.run_id)
                | ((Run.suite == run.suite) & (Run.variant == run.variant) & (Run.eval_key == run.eval_key))
            )
            old = list(session.scalars(same))
            session.execute(delete(Metric).where(Metric.run_id.in_(old)))
            session.execute(delete(Samples).where(Samples.run_id.in_(old)))
            session.execute(delete(RescoredFrom).where(RescoredFrom.run_id.in_(old)))
            session.execute(delete(Run).where(Run.run_id.in_(old)))
            row = Run(**asdict(run), created_at=utcnow())
            row.metrics = [
                Metric(
                    name=m.name,
                    value=float(m.value),
                    n=int(m.n),
                    ci_low=_finite_or_none(m.ci_low),
                    ci_high=_finite_or_none(m.ci_high),
                    higher_is_better=bool(m.higher_is_better),
                    base=m.base,
                    dims=m.dims,
                )
                for m in metrics
            ]
            session.add(row)
            if samples is not None:
                session.flush()  # the run row first: the samples row references it
                n_rows = pq.ParquetFile(io.BytesIO(samples)).metadata.num_rows
                digest = hashlib.sha256(samples).hexdigest()
                session.add(Samples(run_id=run.run_id, digest=digest, n_rows=n_rows, data=samples))
            if rescored_from is not None:
                session.flush()
                session.add(RescoredFrom(run_id=run.run_id, source_run_id=rescored_from))

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
            raise PlanevalError(f"run {run_id}: its per-sample table in {self.url} fails its digest")
        return data

    # -- reading --------------------------------------------------------------------------------
    def has_run(self, run_id: str) -> bool:
        """Whether a successful run exists, so the runner can skip it (failed runs are retried)."""
        with self._session() as session:
            stmt = select(Run.run_id).where(Run.run_id == run_id, Run.status == "ok")
            return session.execute(stmt).first() is not None

    def runs(self, suite: str | None = None, status: str | None = "ok") -> pd.DataFrame:
        """One row per run (``status=None`` for all), oldest first."""
        stmt = select(*Run.__table__.columns).order_by(Run.created_at, Run.run_id)
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
    ) -> pd.DataFrame:
        """Long form, one row per (ok run, metric).

        With ``latest`` (the default) only the newest run of each (suite, variant, task, seed) counts:
        a changed config gets a new eval key and a new run, and the stale one must not be averaged in.
        """
        stmt = (
            select(*(RESULT_SOURCES if self.structured else _UNSTRUCTURED_SOURCES), Run.created_at)
            .join(Metric, Metric.run_id == Run.run_id)
            .where(Run.status == "ok")
            .order_by(Run.suite, Run.family, Run.variant, Run.task, Run.seed, Metric.name)
        )
        if suite is not None:
            stmt = stmt.where(Run.suite == suite)
        if variants is not None:
            stmt = stmt.where(Run.variant.in_(variants))
        if tasks is not None:
            stmt = stmt.where(Run.task.in_(tasks))
        if seeds is not None:
            stmt = stmt.where(Run.seed.in_(seeds))
        with self._session() as session:
            rows = session.execute(stmt).all()
        df = pd.DataFrame([tuple(r) for r in rows], columns=[*RESULT_COLUMNS, "created_at"])
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
                raise PlanevalError(f"no run with id or prefix {run_id_or_prefix!r} in {self.url}")
            if len(found) > 1:
                shown = ", ".join(f"{r.run_id} ({r.variant}/{r.task}/seed {r.seed})" for r in found[:10])
                more = " and more" if len(found) > 10 else ""
                raise PlanevalError(
                    f"run prefix {run_id_or_prefix!r} is ambiguous: {shown}{more}; type more characters"
                )
            run = found[0]
            out = {c: getattr(run, c) for c in RUN_COLUMNS}
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
            return out

    def suites(self) -> list[str]:
        with self._session() as session:
            return list(session.scalars(select(Run.suite).distinct().order_by(Run.suite)))
