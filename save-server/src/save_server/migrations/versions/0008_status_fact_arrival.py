"""connector_status_reports: where a fact comes from (a status report or a charge), when and on
which connection it arrived, and the connector within a 2.0.1 EVSE; station_boots: the
connection a boot arrived on; connectors: the last release before the history horizon. All
nullable: facts stored before keep ordering by time alone.

Revision ID: 0008_status_fact_arrival
Revises: 0007_registry
Create Date: 2026-12-05 11:40:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_status_fact_arrival"
down_revision: str | Sequence[str] | None = "0007_registry"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("connector_status_reports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("received_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("connection_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("evse_connector_id", sa.Integer(), nullable=True))
    with op.batch_alter_table("station_boots", schema=None) as batch_op:
        batch_op.add_column(sa.Column("connection_id", sa.String(length=64), nullable=True))
    with op.batch_alter_table("connectors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("used_before_horizon", sa.DateTime(timezone=True),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("connectors", schema=None) as batch_op:
        batch_op.drop_column("used_before_horizon")
    with op.batch_alter_table("station_boots", schema=None) as batch_op:
        batch_op.drop_column("connection_id")
    with op.batch_alter_table("connector_status_reports", schema=None) as batch_op:
        batch_op.drop_column("evse_connector_id")
        batch_op.drop_column("connection_id")
        batch_op.drop_column("received_at")
        batch_op.drop_column("source")
