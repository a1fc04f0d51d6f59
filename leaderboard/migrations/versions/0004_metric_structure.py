"""metrics.base and metrics.dims: the declared metric a value is of and its breakdown coordinates

Nullable (rows written before read as "not known"; the store fills them in from the runs' tasks once,
``leaderboard.migrate``). Older planevals added them with an ``ALTER TABLE`` on open, so a database may
already have them.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("metrics")}
    if "base" not in present:
        op.add_column("metrics", sa.Column("base", sa.String(200)))
    if "dims" not in present:
        op.add_column("metrics", sa.Column("dims", sa.JSON))


def downgrade() -> None:
    op.drop_column("metrics", "dims")
    op.drop_column("metrics", "base")
