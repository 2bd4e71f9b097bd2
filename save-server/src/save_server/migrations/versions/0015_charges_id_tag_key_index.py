"""charges: an index on (lower(id_tag), stopped), the key the id tags find their charges by
(a tag's running charges at every start and stop, its monthly usage), which no index served.
An expression index: PostgreSQL and SQLite (3.9+) both have them.

Revision ID: 0015_charges_id_tag_key_index
Revises: 0014_id_tag_groups_evse_types
Create Date: 2026-12-06 10:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_charges_id_tag_key_index"
down_revision: str | Sequence[str] | None = "0014_id_tag_groups_evse_types"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_charges_lower_id_tag_stopped"


def upgrade() -> None:
    op.create_index(INDEX, "charges", [sa.text("lower(id_tag)"), "stopped"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="charges")
