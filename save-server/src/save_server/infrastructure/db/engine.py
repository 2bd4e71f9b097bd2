"""Engine creation and schema migration (Alembic), for PostgreSQL and SQLite alike."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, exc

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
IDLE_PING_SECONDS = 1.0  # a pooled connection unused this long is pinged before use


def make_engine(database_url: str, idle_ping_seconds: float = IDLE_PING_SECONDS) -> Engine:
    if database_url.startswith("sqlite"):
        _ensure_sqlite_folder(database_url)
        engine = create_engine(database_url, connect_args={"check_same_thread": False,
                                                           "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # values_plus_batch: executemany of UPDATEs (and upserts) as psycopg2 execute_batch pages,
    # not one round trip per row (SQLAlchemy batches plain INSERTs by itself).
    engine = create_engine(database_url, pool_size=5, max_overflow=5,
                           executemany_mode="values_plus_batch")
    _ping_when_idle(engine, idle_ping_seconds)
    return engine


def _ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """`pool_pre_ping`, but only for a connection idle in the pool longer than `idle_seconds`:
    a worker checks a connection out for every batch, and one in constant use proves itself
    alive (a connection that broke meanwhile fails that batch, which is retried). A failed
    ping makes the pool discard the connection and check out another one."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("checked_in_at", -math.inf) <= idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise exc.DisconnectionError(str(error)) from error


def alembic_config(database_url: str) -> Config:
    # imported here: the embedded consumer process uses engines, never migrations (~11 MiB)
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def migrate(database_url: str, revision: str = "head") -> None:
    """Bring the schema to `revision` (default: the newest)."""
    if database_url.startswith("sqlite"):
        _ensure_sqlite_folder(database_url)
    from alembic import command

    command.upgrade(alembic_config(database_url), revision)


def set_sqlite_foreign_keys(connection: Connection, on: bool) -> bool:
    """Switch SQLite's enforcement of foreign keys on `connection`; returns what it was. Only
    between transactions (inside one the pragma does nothing, so that is refused)."""
    driver = connection.connection.driver_connection
    was = bool(driver.execute("PRAGMA foreign_keys").fetchone()[0])  # type: ignore[union-attr]
    driver.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")  # type: ignore[union-attr]
    if bool(driver.execute("PRAGMA foreign_keys").fetchone()[0]) != on:  # type: ignore[union-attr]
        raise RuntimeError("foreign_keys cannot change inside a transaction")
    return was


def sqlite_foreign_key_violations(connection: Connection) -> list[str]:
    """Every row whose foreign key names no row (`PRAGMA foreign_key_check`), described."""
    return [f"{table} row {rowid} names a missing {parent} row"
            for table, rowid, parent, _ in connection.exec_driver_sql(
                "PRAGMA foreign_key_check")]


def _ensure_sqlite_folder(database_url: str) -> None:
    path = database_url.split(":///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # off by default, per connection: without it a write racing a deletion (a tag saved while
    # its group is deleted) leaves a row that points at nothing, and ON DELETE CASCADE does
    # nothing. Migrations run on connections of their own, with it off (migrations/env.py).
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
