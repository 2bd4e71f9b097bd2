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
    # Existing stations get their document now, built from their rows by the reader's own
    # code (a missing document is also read correctly, only slower). Imported rather than
    # copied: it must produce the shape the API serves at upgrade time.
    from save_server.infrastructure.db.readers import store_missing_documents

    store_missing_documents(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("stations", schema=None) as batch_op:
        batch_op.drop_column("document")
