"""report_subscriptions.groups (only the charges of these id tag groups) and group_usage
(also e-mail the id tag groups' usage of the month); id_tags.evse_types (the EVSE types a tag
may charge at) and station_registrations.evse_types (what each EVSE delivers).

Revision ID: 0014_id_tag_groups_evse_types
Revises: 0013_load_rotation_turns
Create Date: 2026-12-05 17:30:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_id_tag_groups_evse_types"
down_revision: str | Sequence[str] | None = "0013_load_rotation_turns"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("report_subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("groups", sa.JSON(), nullable=False,
                                      server_default="[]"))
        batch_op.add_column(sa.Column("group_usage", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    for table in ("id_tags", "station_registrations"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("evse_types", sa.JSON(), nullable=True))


def downgrade() -> None:
    for table in ("id_tags", "station_registrations"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("evse_types")
    with op.batch_alter_table("report_subscriptions", schema=None) as batch_op:
        batch_op.drop_column("group_usage")
        batch_op.drop_column("groups")
