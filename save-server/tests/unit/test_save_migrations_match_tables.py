"""The Alembic chain and the SQLAlchemy tables describe the same schema (one head, no drift)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from save_server.infrastructure.accounts import tables as _account_tables  # noqa: F401
from save_server.infrastructure.commands import tables as _command_tables  # noqa: F401
from save_server.infrastructure.db.engine import alembic_config, migrate
from save_server.infrastructure.db.tables import metadata
from save_server.infrastructure.id_tags import tables as _id_tag_tables  # noqa: F401
from save_server.infrastructure.load import tables as _load_tables  # noqa: F401
from save_server.infrastructure.local_lists import tables as _local_list_tables  # noqa: F401
from save_server.infrastructure.outbox import tables as _outbox_tables  # noqa: F401
from save_server.infrastructure.registry import tables as _registry_tables  # noqa: F401
from save_server.infrastructure.reports import tables as _report_tables  # noqa: F401


def test_the_migration_chain_has_one_head(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'heads.sqlite3'}"
    assert len(ScriptDirectory.from_config(alembic_config(url)).get_heads()) == 1


# SQLite cannot reflect an expression index (charges' lower(id_tag)): Alembic skips it here;
# integration/test_save_charges_id_tag_index.py compares it on PostgreSQL.
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_a_migrated_database_matches_the_tables_the_code_uses(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'schema.sqlite3'}"
    migrate(url)
    engine = create_engine(url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    engine.dispose()
    assert differences == []
