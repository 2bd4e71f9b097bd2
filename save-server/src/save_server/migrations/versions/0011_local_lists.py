"""local_list_states, local_list_sends: each station's local authorization list as far as the
platform knows, and every SendLocalList with the station's answer

Revision ID: 0011_local_lists
Revises: 0010_load_management
Create Date: 2026-12-05 14:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_local_lists"
# assigned down_revision 0008_status_fact_arrival; re-chained after merging id-tags-server
down_revision: str | Sequence[str] | None = "0010_load_management"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "local_list_states",
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("support", sa.String(length=16), nullable=False),
        sa.Column("ocpp_version", sa.String(length=8), nullable=True),
        sa.Column("firmware_version", sa.String(length=50), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=True),
        sa.Column("max_list_size", sa.Integer(), nullable=True),
        sa.Column("max_per_message", sa.Integer(), nullable=True),
        sa.Column("last_version", sa.Integer(), nullable=False),
        sa.Column("acknowledged_version", sa.Integer(), nullable=True),
        sa.Column("held", sa.JSON(), nullable=True),
        sa.Column("source_revision", sa.BigInteger(), nullable=True),
        sa.Column("clear_cache_pending", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("station_id", name=op.f("pk_local_list_states")),
    )
    op.create_table(
        "local_list_sends",
        sa.Column("command_id", sa.String(length=36), nullable=False),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("list_version", sa.Integer(), nullable=False),
        sa.Column("update_type", sa.String(length=16), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=50), nullable=True),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("command_id", name=op.f("pk_local_list_sends")),
    )
    op.create_index(op.f("ix_local_list_sends_station_id_sent_at"), "local_list_sends",
                    ["station_id", "sent_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_local_list_sends_station_id_sent_at"),
                  table_name="local_list_sends")
    op.drop_table("local_list_sends")
    op.drop_table("local_list_states")
