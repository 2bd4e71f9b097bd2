"""report subscriptions and runs (charge reports by e-mail)

Revision ID: 0002_reports
Revises: 0001
Create Date: 2026-11-25 12:55:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_reports"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "report_subscriptions",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("schedule", sa.String(length=120), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("station_ids", sa.JSON(), nullable=False),
        sa.Column("id_tags", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_subscriptions")),
    )
    op.create_index(op.f("ix_report_subscriptions_origin"), "report_subscriptions",
                    ["origin"], unique=False)
    op.create_table(
        "report_runs",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("subscription_id", Id, nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("claimed_by", sa.String(length=200), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("charge_count", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["subscription_id"], ["report_subscriptions.id"],
                                name="fk_report_runs_subscription_id", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_runs")),
        sa.UniqueConstraint("subscription_id", "window_start",
                            name=op.f("uq_report_runs_subscription_id_window_start")),
    )
    op.create_index(op.f("ix_report_runs_state_id"), "report_runs", ["state", "id"],
                    unique=False)
    op.create_index(op.f("ix_report_runs_window_start_id"), "report_runs",
                    ["window_start", "id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_report_runs_window_start_id"), table_name="report_runs")
    op.drop_index(op.f("ix_report_runs_state_id"), table_name="report_runs")
    op.drop_table("report_runs")
    op.drop_index(op.f("ix_report_subscriptions_origin"), table_name="report_subscriptions")
    op.drop_table("report_subscriptions")
