"""Engine creation and schema migration (Alembic), for PostgreSQL and SQLite alike."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def make_engine(database_url: str) -> Engine:
    if database_url.startswith("sqlite"):
        _ensure_sqlite_folder(database_url)
        engine = create_engine(database_url, connect_args={"check_same_thread": False,
                                                           "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # values_plus_batch: executemany of UPDATEs (and upserts) as psycopg2 execute_batch pages,
    # not one round trip per row (SQLAlchemy batches plain INSERTs by itself).
    return create_engine(database_url, pool_pre_ping=True, pool_size=5, max_overflow=5,
                         executemany_mode="values_plus_batch")


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def migrate(database_url: str, revision: str = "head") -> None:
    """Bring the schema to `revision` (default: the newest)."""
    if database_url.startswith("sqlite"):
        _ensure_sqlite_folder(database_url)
    command.upgrade(alembic_config(database_url), revision)


def _ensure_sqlite_folder(database_url: str) -> None:
    path = database_url.split(":///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
