"""Alembic environment: the URL comes from the caller (save_server.infrastructure.db.migrate)."""

from __future__ import annotations

from alembic import context
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, engine_from_config, pool

from save_server.infrastructure.accounts import tables as _account_tables  # noqa: F401
from save_server.infrastructure.commands import tables as _command_tables  # noqa: F401
from save_server.infrastructure.db.engine import (
    set_sqlite_foreign_keys,
    sqlite_foreign_key_violations,
)
from save_server.infrastructure.db.tables import metadata
from save_server.infrastructure.id_tags import tables as _id_tag_tables  # noqa: F401
from save_server.infrastructure.load import tables as _load_tables  # noqa: F401
from save_server.infrastructure.local_lists import tables as _local_list_tables  # noqa: F401
from save_server.infrastructure.outbox import tables as _outbox_tables  # noqa: F401
from save_server.infrastructure.registry import tables as _registry_tables  # noqa: F401
from save_server.infrastructure.reports import tables as _report_tables  # noqa: F401

config = context.config


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = engine_from_config(config.get_section(config.config_ini_section) or {},
                                prefix="sqlalchemy.", poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run(connection)


def _run(connection: Connection) -> None:
    if connection.dialect.name != "sqlite":
        _migrate(connection)
        return
    # SQLite: foreign keys off while migrating. A batch migration rebuilds a table (copy,
    # drop, rename), and dropping a table that others name would delete their rows (ON DELETE
    # CASCADE) or be refused; `_migrate` checks the keys once the migrations are done.
    was = set_sqlite_foreign_keys(connection, False)
    try:
        _migrate(connection)
    finally:
        set_sqlite_foreign_keys(connection, was)


def _migrate(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        before = set(context.get_context().get_current_heads())
        context.run_migrations()
        now = set(context.get_context().get_current_heads())
        if now != before and connection.dialect.name == "sqlite":
            _check_foreign_keys(connection)
        if now == set(ScriptDirectory.from_config(config).get_heads()):
            _store_missing_documents(connection)


def _check_foreign_keys(connection: Connection) -> None:
    """A migration must leave no row whose foreign key names nothing (SQLite did not check
    while it ran): raising rolls its transaction back."""
    violations = sqlite_foreign_key_violations(connection)
    if violations:
        raise RuntimeError("the migrations left rows that break a foreign key: "
                           + "; ".join(violations[:20]))


def _store_missing_documents(connection: object) -> None:
    """Stations without a stored document (older rows, seeded ones) get it once the schema is
    at head: built by the reader's own code, which reads the head schema (a migration in the
    middle of the chain could not run it). A missing document is also read correctly, only
    slower."""
    from save_server.infrastructure.db.readers import store_missing_documents

    store_missing_documents(connection)  # type: ignore[arg-type]


run_migrations_online()
