"""The SQL that differs between the databases save-server runs on, behind one interface: one
subclass per database (`sqlite.SqliteStatements`, `postgresql.PostgresStatements`), chosen
by `bootstrap.py`; the repositories around it are the same code on both. An instance works on
one connection (one transaction): the repositories of a unit of work share it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Connection as DbConnection
from sqlalchemy.sql import Insert

from save_server.domain.model import Station


class SqlStatements(ABC):
    def __init__(self, db: DbConnection) -> None:
        self.db = db

    @abstractmethod
    def insert(self, table: Table) -> Insert:
        """An INSERT that takes `on_conflict_do_nothing` / `on_conflict_do_update`."""

    @abstractmethod
    def take_write_lock(self) -> None:
        """First thing in a transaction that reads rows and then writes them: from here on no
        other writer can change what it reads (or the database locks rows as they are read)."""

    def skip_commit_flush(self) -> None:  # noqa: B027 - a database may have nothing to relax
        """This transaction's commit may return before the write reaches the disk (history
        that another store also keeps)."""

    def follow_ids(self, table: Table, column: str = "id") -> None:  # noqa: B027
        """After rows were inserted with their own ids (a replay): the next generated id comes
        after them. SQLite's rowid does so by itself."""

    @contextmanager
    def batched(self) -> Iterator[None]:
        """Writes inside the block may be sent together when it ends (nothing is sent when it
        raises)."""
        yield

    @abstractmethod
    def lock_stations(self, station_ids: Collection[str]) -> list[tuple[str, int]]:
        """(station id, revision) of the existing stations, locked in station id order (the
        same order in every worker)."""

    @abstractmethod
    def load_reports(self, stations: Mapping[str, Station]) -> None:
        """Append to each loaded connector its status reports from its history horizon on,
        in the order they were stored."""

    @abstractmethod
    def seen_event_ids(self, event_ids: Sequence[str]) -> set[str]:
        """The ids among these in `processed_events`."""

    @abstractmethod
    def insert_rows(self, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        """Plain multi-row INSERT; every row has the same keys."""

    @abstractmethod
    def upsert(self, table: Table, rows: Sequence[dict[str, Any]], keys: list[str]) -> None:
        """INSERT, or UPDATE the other columns of the row with the same `keys` (no two rows
        with the same keys in one call)."""

    @abstractmethod
    def update_rows(self, table: Table, key: str, rows: Sequence[dict[str, Any]]) -> None:
        """UPDATE each row matched by its `key` column with its other columns."""

    @abstractmethod
    def merge_connections(self, rows: Sequence[dict[str, Any]]) -> None:
        """Upsert `station_connections` never losing what another view of a row knew:
        earliest first sight and disconnect, latest last sight."""


MERGED_CONNECTION_COLUMNS = (("first_seen_at", "least"), ("last_seen_at", "greatest"),
                             ("disconnected_at", "least"))
