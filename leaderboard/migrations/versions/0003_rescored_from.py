"""rescored_from: the run a ``planeval score`` row was re-scored from

Older planevals created this table with ``create_all`` on open, so a database may already have it.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("rescored_from"):
        return
    op.create_table(
        "rescored_from",
        sa.Column(
            "run_id", sa.String(64), sa.ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("source_run_id", sa.String(64), nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("rescored_from")
