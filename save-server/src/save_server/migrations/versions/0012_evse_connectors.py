"""connectors.evse_connectors: each connector of a 2.0.1 EVSE as its station last reported it
(JSON), served in the station document; every stored document is dropped so that it is built
again, with the new key, once the schema is at head (migrations/env.py).

Revision ID: 0012_evse_connectors
Revises: 0011_local_lists
Create Date: 2026-12-05 14:20:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_evse_connectors"
down_revision: str | Sequence[str] | None = "0011_local_lists"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("connectors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("evse_connectors", sa.Text(), nullable=True))
    op.execute("UPDATE stations SET document = NULL WHERE document IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("connectors", schema=None) as batch_op:
        batch_op.drop_column("evse_connectors")
    op.execute("UPDATE stations SET document = NULL WHERE document IS NOT NULL")
