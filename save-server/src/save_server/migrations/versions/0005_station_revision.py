"""stations.revision: bumped by every write of a station, so a worker can tell that the copy
it kept from its last batch is still current

Revision ID: 0005_station_revision
Revises: 0004_station_documents
Create Date: 2026-11-25 15:30:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_station_revision"
down_revision: str | Sequence[str] | None = "0004_station_documents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("stations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revision", sa.BigInteger(), nullable=False,
                                      server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("stations", schema=None) as batch_op:
        batch_op.drop_column("revision")
