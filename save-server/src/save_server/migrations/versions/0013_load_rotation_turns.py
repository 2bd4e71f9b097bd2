"""Load management: each site's rotation turns, so a restart of the load manager (or a takeover
by another replica) goes on with the turns it had (docs/load-management.md).

Revision ID: 0013_load_rotation_turns
Revises: 0012_evse_connectors
Create Date: 2026-12-05 17:20:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_load_rotation_turns"
down_revision: str | Sequence[str] | None = "0012_evse_connectors"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "site_rotation_turns",
        sa.Column("site_id", sa.String(length=36), nullable=False),
        sa.Column("turns", sa.JSON(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("site_id", name=op.f("pk_site_rotation_turns")),
    )


def downgrade() -> None:
    op.drop_table("site_rotation_turns")
