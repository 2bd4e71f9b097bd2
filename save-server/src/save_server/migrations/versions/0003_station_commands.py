"""station_commands: the history of remote commands sent to stations

Revision ID: 0003_station_commands
Revises: 0002_reports
Create Date: 2026-11-25 13:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_station_commands"
down_revision: str | Sequence[str] | None = "0002_reports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "station_commands",
        sa.Column("command_id", sa.String(length=36), nullable=False),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("command", sa.String(length=40), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("error_code", sa.String(length=50), nullable=True),
        sa.Column("error_description", sa.Text(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("ocpp_version", sa.String(length=8), nullable=True),
        sa.Column("action", sa.String(length=50), nullable=True),
        sa.PrimaryKeyConstraint("command_id", name=op.f("pk_station_commands")),
    )
    op.create_index(op.f("ix_station_commands_station_id_requested_at"), "station_commands",
                    ["station_id", "requested_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_station_commands_station_id_requested_at"),
                  table_name="station_commands")
    op.drop_table("station_commands")
