"""runs.model_settings (what a model was loaded with) and runs.item_limit (``planeval run --limit``)

``model_settings`` holds the resolved window, dtype, device and batch size of the evaluated model (JSON;
NULL in rows written before, or by a model that reports none). ``item_limit`` is the ``--limit N`` a quick
run was made with: such rows are left out of tables, comparisons, claims and regress unless asked for.
NULL: a full evaluation.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("model_settings", sa.JSON))
    op.add_column("runs", sa.Column("item_limit", sa.Integer))


def downgrade() -> None:
    op.drop_column("runs", "item_limit")
    op.drop_column("runs", "model_settings")
