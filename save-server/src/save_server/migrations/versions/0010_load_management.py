"""Load management: the sites' electrical models, their latest building load, and the load
manager's latest view of each site.

Revision ID: 0010_load_management
Revises: 0009_id_tags
Create Date: 2026-12-05 14:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

When = sa.DateTime(timezone=True)

revision: str = "0010_load_management"
down_revision: str | Sequence[str] | None = "0009_id_tags"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "site_electrical_models",
        sa.Column("site_id", sa.String(length=36), nullable=False),
        sa.Column("model", sa.JSON(), nullable=False),
        sa.Column("updated_at", When, nullable=False),
        sa.PrimaryKeyConstraint("site_id", name=op.f("pk_site_electrical_models")),
    )
    op.create_table(
        "site_building_loads",
        sa.Column("site_id", sa.String(length=36), nullable=False),
        sa.Column("per_phase_a", sa.JSON(), nullable=False),
        sa.Column("measured_at", When, nullable=False),
        sa.PrimaryKeyConstraint("site_id", name=op.f("pk_site_building_loads")),
    )


    op.create_table(
        "site_power",
        sa.Column("site_id", sa.String(length=36), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("computed_at", When, nullable=False),
        sa.PrimaryKeyConstraint("site_id", name=op.f("pk_site_power")),
    )


def downgrade() -> None:
    op.drop_table("site_power")
    op.drop_table("site_building_loads")
    op.drop_table("site_electrical_models")
