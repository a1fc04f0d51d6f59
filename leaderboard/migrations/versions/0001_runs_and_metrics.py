"""runs and metrics: the first tables (one row per evaluation run, one per metric)

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("suite", sa.String(200), nullable=False, index=True),
        sa.Column("variant", sa.String(200), nullable=False, index=True),
        sa.Column("family", sa.String(200), nullable=False),
        sa.Column("task", sa.String(200), nullable=False, index=True),
        sa.Column("task_name", sa.String(200), nullable=False),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("config_hash", sa.String(64), nullable=False),
        sa.Column("model_key", sa.String(64), nullable=False),
        sa.Column("eval_key", sa.String(64), nullable=False),
        sa.Column("git_commit", sa.String(64), nullable=False),
        sa.Column("package_versions", sa.JSON, nullable=False),
        sa.Column("timings", sa.JSON, nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("samples_path", sa.Text),
        sa.Column("created_at", sa.DateTime, nullable=False),  # UTC, without a zone
        sa.UniqueConstraint("suite", "variant", "eval_key", name="uq_runs_suite_variant_eval_key"),
        sa.CheckConstraint("status IN ('ok', 'failed')", name="ck_runs_status"),
    )
    op.create_table(
        "metrics",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "run_id",
            sa.String(64),
            sa.ForeignKey("runs.run_id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("ci_low", sa.Float),
        sa.Column("ci_high", sa.Float),
        sa.Column("higher_is_better", sa.Boolean, nullable=False),
        sa.UniqueConstraint("run_id", "name", name="uq_metrics_run_name"),
    )


def downgrade() -> None:
    op.drop_table("metrics")
    op.drop_table("runs")
