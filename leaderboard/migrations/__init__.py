"""Schema migrations of the leaderboard database: Alembic revisions (``versions/``), run in-process.

A planeval that opens a database upgrades it to the newest schema, so a newer planeval opens an older
database, SQLite file or PostgreSQL server alike. There is no ``env.py`` or ``alembic.ini``: the store
calls ``upgrade`` with its own engine, and the revisions are plain Alembic scripts (``op.add_column``...).

The revision is kept in ``planeval_alembic_version`` (not Alembic's default ``alembic_version``, so a
server database shared with another Alembic-managed application keeps both apart). Databases written
before revisions existed carry no such table. They hold at least the
first revision's tables, so they are stamped at it and upgraded; the revisions that replay what older
planevals did ad hoc (``create_all`` for new tables, ``ALTER TABLE`` for new columns) skip what such a
database already has.

Two processes opening one old database at once must not both migrate it: on PostgreSQL the upgrade
holds a transaction-scoped advisory lock (and its DDL is transactional), on SQLite a ``BEGIN
IMMEDIATE`` write lock; the one that waited then finds the database current.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

#: the revision an unversioned database written by an older planeval is taken to be at
BASELINE = "0001"
#: where a database's revision is kept
VERSION_TABLE = "planeval_alembic_version"
#: the key of the PostgreSQL advisory lock the upgrade holds
_LOCK_KEY = zlib.crc32(b"planeval leaderboard migrations")


@cache
def script() -> ScriptDirectory:
    """The revisions shipped with this planeval (parsed once per process)."""
    return ScriptDirectory(str(Path(__file__).parent))


def head() -> str:
    found = script().get_current_head()
    assert found is not None, "leaderboard/migrations/versions holds no revision"
    return found


@dataclass
class Upgrade:
    """What opening a database did to its schema."""

    before: str | None  # its revision before (None: a new database, or one older than revisions)
    after: str | None  # its revision now (not head when it could not be upgraded: opened read-only)
    applied: list[str] = field(default_factory=list)  # the revisions run, oldest first
    error: str | None = None  # why it could not be upgraded

    @property
    def current(self) -> bool:
        return self.after == head()


def current_revision(conn: Connection) -> str | None:
    """A database's revision: its ``VERSION_TABLE`` row; the baseline for a planeval database written
    before revisions existed; None for an empty one."""
    found = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()
    if found is None and inspect(conn).has_table("runs"):
        return BASELINE
    return found


def upgrade(engine: Engine, target: str = "head") -> Upgrade:
    """Bring a database to ``target`` (the newest revision by default). A database that is already
    there is only read (a read-only copy opens); one that cannot be written keeps its revision and
    says why in ``Upgrade.error``, so it can still be read."""
    with engine.connect() as conn:
        before = current_revision(conn)
    wanted = head() if target == "head" else target
    if before == wanted:
        return Upgrade(before, before)
    if before is not None and before not in {r.revision for r in script().walk_revisions()}:
        # written by a newer planeval: read what is there, write nothing
        return Upgrade(
            before, before, error=f"it was written by a newer planeval (this one knows up to {head()})"
        )
    try:
        return _run(engine, "upgrade", target, before)
    except DBAPIError as exc:
        if before is None:  # a new database that cannot be created is an error for the opener
            raise
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        return Upgrade(before, before, error=first[0] if first else type(exc).__name__)


def downgrade(engine: Engine, target: str) -> Upgrade:
    """Take a database back to an older revision (tests build older schemas with it)."""
    with engine.connect() as conn:
        before = current_revision(conn)
    return _run(engine, "downgrade", target, before)


def _run(engine: Engine, direction: str, target: str, before: str | None) -> Upgrade:
    """Run the revisions from the database's revision to ``target`` under the migration lock."""
    scripts = script()
    applied: list[str] = []
    with engine.connect() as conn, conn.begin():
        _lock(conn)
        now = current_revision(conn)  # again, under the lock: another opener may have migrated
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        if now == BASELINE and context.get_current_revision() is None:
            context.stamp(scripts, BASELINE)  # an unversioned database from before revisions

        def steps(rev: tuple[str, ...], _context: MigrationContext) -> list:
            found = (
                scripts._upgrade_revs(target, rev)
                if direction == "upgrade"
                else scripts._downgrade_revs(target, rev)
            )
            applied.extend(step.revision.revision for step in found)
            return found

        env = EnvironmentContext(Config(), scripts, fn=steps, destination_rev=target)
        with env:
            env.configure(connection=conn, target_metadata=None, version_table=VERSION_TABLE)
            env.run_migrations()
        after = current_revision(conn)
    return Upgrade(before, after, applied)


def _lock(conn: Connection) -> None:
    """Serialise migrations of one database across processes (held until the transaction ends)."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})")
    elif dialect == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # the DDL that follows runs inside this transaction
