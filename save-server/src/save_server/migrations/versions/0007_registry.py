"""registry: sites, station registrations, unknown stations, the registry revision

Revision ID: 0007_registry
Revises: 0006_accounts
Create Date: 2026-12-05 12:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_registry"
down_revision: str | Sequence[str] | None = "0006_accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sites",
        sa.Column("site_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=500), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("site_id", name=op.f("pk_sites")),
    )
    op.create_table(
        "station_registrations",
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("site_id", sa.String(length=36), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("security_profile", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("ocpp_version", sa.String(length=8), nullable=True),
        sa.Column("certificate_organization", sa.String(length=200), nullable=True),
        sa.Column("passwords", sa.JSON(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("registered_at", When, nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.site_id"]),
        sa.PrimaryKeyConstraint("station_id", name=op.f("pk_station_registrations")),
    )
    op.create_table(
        "unknown_stations",
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("first_attempt_at", When, nullable=False),
        sa.Column("last_attempt_at", When, nullable=False),
        sa.Column("attempts", sa.BigInteger(), nullable=False),
        sa.Column("remote_address", sa.String(length=64), nullable=True),
        sa.Column("offered_subprotocols", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("station_id", name=op.f("pk_unknown_stations")),
    )
    op.create_table(
        "registry_revision",
        sa.Column("id", Id, autoincrement=False, nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_revision")),
    )
    op.execute("INSERT INTO registry_revision (id, revision) VALUES (1, 0)")


def downgrade() -> None:
    op.drop_table("registry_revision")
    op.drop_table("unknown_stations")
    op.drop_table("station_registrations")
    op.drop_table("sites")
