"""stations.document: each station as GET /charging-stations lists it, kept by the writers

Revision ID: 0004_station_documents
Revises: 0003_station_commands
Create Date: 2026-11-25 15:20:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_station_documents"
down_revision: str | Sequence[str] | None = "0003_station_commands"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("stations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("document", sa.Text(), nullable=True))
    # Existing stations get their document once the schema is at head (migrations/env.py):
    # the reader's code that builds it reads the newest schema, not this revision's.


def downgrade() -> None:
    with op.batch_alter_table("stations", schema=None) as batch_op:
        batch_op.drop_column("document")
