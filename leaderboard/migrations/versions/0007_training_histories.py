"""training_histories: each trained model's full training history and summary

A row per train key: who recorded it and when, the suite, variant, family and seed it was trained for,
the trainer's summary (``training.json``) and every logged step (``history.jsonl``), so training curves
are drawn from the database alone (``planeval plot --kind training``).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "training_histories",
        sa.Column("train_key", sa.String(64), primary_key=True),
        sa.Column("suite", sa.String(200), nullable=False, index=True),
        sa.Column("variant", sa.String(200), nullable=False),
        sa.Column("family", sa.String(100), nullable=False),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),  # UTC, without a zone
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Column("recorded_host", sa.String(255), nullable=False),
        sa.Column("summary", sa.JSON, nullable=False),
        sa.Column("history", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("training_histories")
