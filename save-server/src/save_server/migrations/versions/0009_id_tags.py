"""id tags: groups, tags, unknown tokens, the id tag registry revision; charges remember
whether their start was accepted and the tag's holder and group at start (all nullable:
charges stored before know nothing of it).

Revision ID: 0009_id_tags
Revises: 0008_status_fact_arrival
Create Date: 2026-12-05 14:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_id_tags"
down_revision: str | Sequence[str] | None = "0008_status_fact_arrival"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "id_tag_groups",
        sa.Column("group_id", sa.String(length=20), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("monthly_budget_kwh", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("group_id", name=op.f("pk_id_tag_groups")),
    )
    op.create_table(
        "id_tags",
        sa.Column("token_key", sa.String(length=36), nullable=False),
        sa.Column("id_tag", sa.String(length=36), nullable=False),
        sa.Column("token_type", sa.String(length=16), nullable=True),
        sa.Column("group_id", sa.String(length=20), nullable=True),
        sa.Column("holder", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("expires_at", When, nullable=True),
        sa.Column("site_ids", sa.JSON(), nullable=True),
        sa.Column("station_ids", sa.JSON(), nullable=True),
        sa.Column("max_concurrent_charges", sa.Integer(), nullable=False),
        sa.Column("monthly_budget_kwh", sa.Float(), nullable=True),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("budget_exhausted", sa.Boolean(), nullable=False),
        sa.Column("updated_at", When, nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["id_tag_groups.group_id"]),
        sa.PrimaryKeyConstraint("token_key", name=op.f("pk_id_tags")),
    )
    op.create_index(op.f("ix_id_tags_group_id"), "id_tags", ["group_id"])
    op.create_table(
        "unknown_id_tags",
        sa.Column("token_key", sa.String(length=36), nullable=False),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("id_tag", sa.String(length=36), nullable=False),
        sa.Column("first_seen_at", When, nullable=False),
        sa.Column("last_seen_at", When, nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("token_key", "station_id", name=op.f("pk_unknown_id_tags")),
    )
    op.create_index(op.f("ix_unknown_id_tags_last_seen_at"), "unknown_id_tags",
                    ["last_seen_at"])
    op.create_table(
        "id_tag_revision",
        sa.Column("id", Id, autoincrement=False, nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_id_tag_revision")),
    )
    op.execute("INSERT INTO id_tag_revision (id, revision) VALUES (1, 0)")
    with op.batch_alter_table("charges", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unauthorized", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("id_tag_holder", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("id_tag_group", sa.String(length=20), nullable=True))
        batch_op.create_index(op.f("ix_charges_id_tag_group_sort_at"),
                              ["id_tag_group", "sort_at"])
        batch_op.create_index(op.f("ix_charges_stopped"), ["stopped"])


def downgrade() -> None:
    with op.batch_alter_table("charges", schema=None) as batch_op:
        batch_op.drop_index(op.f("ix_charges_stopped"))
        batch_op.drop_index(op.f("ix_charges_id_tag_group_sort_at"))
        batch_op.drop_column("id_tag_group")
        batch_op.drop_column("id_tag_holder")
        batch_op.drop_column("unauthorized")
    op.drop_table("id_tag_revision")
    op.drop_index(op.f("ix_unknown_id_tags_last_seen_at"), table_name="unknown_id_tags")
    op.drop_table("unknown_id_tags")
    op.drop_index(op.f("ix_id_tags_group_id"), table_name="id_tags")
    op.drop_table("id_tags")
    op.drop_table("id_tag_groups")
