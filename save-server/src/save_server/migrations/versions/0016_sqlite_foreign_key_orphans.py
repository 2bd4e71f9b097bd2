"""SQLite enforces the foreign keys from now on (PRAGMA foreign_keys=ON on every connection of
save_server.infrastructure.db.engine). Before this, a write racing a deletion (a tag saved
while its group was deleted, a key added while its account was deleted) could leave a row
that names a row no longer there. Such rows are settled here, as the keys would have had it:
- an API key or a sign-in session of a deleted account, a run of a deleted report
  subscription: deleted (their keys are ON DELETE CASCADE; none can authenticate anyway);
- a station registration naming a deleted site, an id tag naming a deleted group (keys
  without a cascade): the reference is cleared, and nothing else. The row takes a new
  revision of its registry (as any change does) so that the gateways take it with their next
  snapshot, and each one is logged as a warning: the operator gives it a site or a group
  again. Left as it was, every later write of the row would be refused by the key.
PostgreSQL has always enforced the keys: nothing to do there. The downgrade changes nothing.

Revision ID: 0016_sqlite_foreign_key_orphans
Revises: 0015_charges_id_tag_key_index
Create Date: 2026-12-06 10:00:00

"""
import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_sqlite_foreign_key_orphans"
down_revision: str | Sequence[str] | None = "0015_charges_id_tag_key_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("save_server.migrations")

# (table, its column, the table it names, that table's key)
CASCADED = (("api_keys", "account_id", "accounts", "account_id"),
            ("sign_in_sessions", "account_id", "accounts", "account_id"),
            ("report_runs", "subscription_id", "report_subscriptions", "id"))
# (table, its key, the column cleared, the table it names, the registry's revision counter)
CLEARED = (("station_registrations", "station_id", "site_id", "sites", "registry_revision"),
           ("id_tags", "token_key", "group_id", "id_tag_groups", "id_tag_revision"))


def upgrade() -> None:
    db = op.get_bind()
    if db.dialect.name != "sqlite":
        return
    for table, column, parent, key in CASCADED:
        deleted = db.execute(sa.text(
            f"DELETE FROM {table} WHERE NOT EXISTS "
            f"(SELECT 1 FROM {parent} WHERE {parent}.{key} = {table}.{column})")).rowcount
        if deleted:
            log.warning("deleted %d row(s) of %s whose %s no longer exists", deleted, table,
                        parent)
    cleared = [_clear(db, *names) for names in CLEARED]
    if any(cleared):
        _next_revision(db, "credential_revision")  # viewers' site scopes follow the registry


def _clear(db: sa.Connection, table: str, key: str, column: str, parent: str,
           counter: str) -> int:
    dangling = db.execute(sa.text(
        f"SELECT {key}, {column} FROM {table} WHERE {column} IS NOT NULL AND NOT EXISTS "
        f"(SELECT 1 FROM {parent} WHERE {parent}.{column} = {table}.{column}) "
        f"ORDER BY {key}")).all()
    for row_key, missing in dangling:
        newest = db.execute(sa.text(f"SELECT max(revision) FROM {table}")).scalar() or 0
        revision = _next_revision(db, counter, newest)
        db.execute(sa.text(f"UPDATE {table} SET {column} = NULL, revision = :revision "
                           f"WHERE {key} = :key"), {"revision": revision, "key": row_key})
        log.warning("%s %r named %s %r, which no longer exists: cleared (revision %d)",
                    table, row_key, column, missing, revision)
    return len(dangling)


def _next_revision(db: sa.Connection, counter: str, at_least: int = 0) -> int:
    """One more on a one-row counter, and above `at_least` (what the rows already hold)."""
    held = db.execute(sa.text(f"SELECT revision FROM {counter} WHERE id = 1")).scalar()
    revision = max(held or 0, at_least) + 1
    if held is None:
        db.execute(sa.text(f"INSERT INTO {counter} (id, revision) VALUES (1, :r)"),
                   {"r": revision})
    else:
        db.execute(sa.text(f"UPDATE {counter} SET revision = :r WHERE id = 1"), {"r": revision})
    return int(revision)


def downgrade() -> None:
    pass
