"""who recorded a run (runs.recorded_by, runs.recorded_host), and run_replicates

A run row now names the user and host that recorded it (``created_at`` is when). A later recording of
the same run by another user or host no longer replaces the row: it is kept in ``run_replicates`` with
its own provenance, metrics and per-sample digest (the table's bytes too when they differ). Rows
written before this revision have NULL recorders ("not known").

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("recorded_by", sa.String(200)))
    op.add_column("runs", sa.Column("recorded_host", sa.String(255)))
    op.create_table(
        "run_replicates",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), nullable=False, index=True),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Column("recorded_host", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),  # UTC, without a zone
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("git_commit", sa.String(64), nullable=False),
        sa.Column("package_versions", sa.JSON, nullable=False),
        sa.Column("timings", sa.JSON, nullable=False),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("samples_digest", sa.String(64)),
        sa.Column("n_rows", sa.Integer),
        sa.Column("samples", sa.LargeBinary),
        sa.UniqueConstraint("run_id", "recorded_by", "recorded_host", name="uq_run_replicates_run_recorder"),
        sa.CheckConstraint("status IN ('ok', 'failed')", name="ck_run_replicates_status"),
    )


def downgrade() -> None:
    op.drop_table("run_replicates")
    op.drop_column("runs", "recorded_host")
    op.drop_column("runs", "recorded_by")
