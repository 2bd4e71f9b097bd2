"""Embedded storage adapter: one SQLite file in WAL mode, one connection per thread.

Dates are kept as integer microseconds since the epoch (UTC) so ordering and range filters
are exact; the raw body is kept as received so a replay is byte-for-byte the original.
"""

from __future__ import annotations

import pathlib
import sqlite3
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from event_store.domain.events import EXPIRING_PREFIXES, StoredEvent, as_utc
from event_store.domain.ports import EventStorage
from event_store.domain.queries import EventQuery, EventStats

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    date_us INTEGER NOT NULL,
    charging_station_id TEXT,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_type_date ON events (type, date_us, event_id);
CREATE INDEX IF NOT EXISTS events_station_date ON events (charging_station_id, date_us, event_id);
CREATE INDEX IF NOT EXISTS events_date ON events (date_us, event_id);
"""


def to_micros(moment: datetime) -> int:
    return (as_utc(moment) - _EPOCH) // timedelta(microseconds=1)


def from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


class SqliteEventStorage(EventStorage):
    def __init__(self, path: pathlib.Path) -> None:
        self._path = path
        self._local = threading.local()
        self._connections: dict[threading.Thread, sqlite3.Connection] = {}
        self._lock = threading.Lock()
        self._closed = False
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connection() as connection:
            connection.executescript(_SCHEMA)

    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise sqlite3.ProgrammingError("the event storage is closed")
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self._path, timeout=30, check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA busy_timeout=30000")
            self._local.connection = connection
            with self._lock:
                self._close_connections_of_ended_threads()
                self._connections[threading.current_thread()] = connection
        return connection

    def _close_connections_of_ended_threads(self) -> None:
        # Each replay job reads from threads of its own: without this, every finished job
        # would leave its connections (and file handles) open until the storage closes.
        for thread in [t for t in self._connections if not t.is_alive()]:
            self._connections.pop(thread).close()

    def open_connections(self) -> int:
        with self._lock:
            return len(self._connections)

    def save_many(self, events: Sequence[StoredEvent]) -> int:
        if not events:
            return 0
        rows = [(e.event_id, e.type, to_micros(e.date), e.charging_station_id, e.body)
                for e in events]
        connection = self._connection()
        with connection:
            before = connection.total_changes
            connection.executemany(
                "INSERT OR IGNORE INTO events (event_id, type, date_us, charging_station_id, body)"
                " VALUES (?, ?, ?, ?, ?)", rows)
            return connection.total_changes - before

    def get(self, event_id: str) -> StoredEvent | None:
        row = self._connection().execute(
            "SELECT event_id, type, date_us, charging_station_id, body FROM events"
            " WHERE event_id = ?", (event_id,)).fetchone()
        return _to_event(row) if row else None

    def find(self, query: EventQuery) -> list[StoredEvent]:
        start = query.start_date
        if query.after is not None and (start is None or query.after.date > start):
            # The cursor's date is the effective lower bound: SQLite seeks the index from it
            # instead of walking from `start_date` to the cursor on every page.
            start = query.after.date
        where, params = _filters(start, query.end_date, query.types, query.charging_station_id)
        if query.after is not None:
            where.append("(date_us, event_id) > (?, ?)")
            params += [to_micros(query.after.date), query.after.event_id]
        sql = ("SELECT event_id, type, date_us, charging_station_id, body FROM events"
               f"{_where(where)} ORDER BY date_us, event_id LIMIT ?")
        rows = self._connection().execute(sql, [*params, query.limit]).fetchall()
        return [_to_event(row) for row in rows]

    def stats(self, start_date: datetime | None, end_date: datetime | None) -> EventStats:
        where, params = _filters(start_date, end_date, (), None)
        connection = self._connection()
        by_type = dict(connection.execute(
            f"SELECT type, COUNT(*) FROM events{_where(where)} GROUP BY type ORDER BY type",
            params).fetchall())
        by_day = dict(connection.execute(
            "SELECT strftime('%Y-%m-%d', date_us / 1000000, 'unixepoch') AS day, COUNT(*)"
            f" FROM events{_where(where)} GROUP BY day ORDER BY day", params).fetchall())
        return EventStats(total=sum(by_type.values()), by_type=by_type, by_day=by_day)

    def delete_older_than(self, cutoff: datetime) -> int:
        connection = self._connection()
        with connection:
            return connection.execute(
                "DELETE FROM events WHERE date_us < ? AND (" + " OR ".join(
                    "type LIKE ?" for _ in EXPIRING_PREFIXES) + ")",
                (to_micros(cutoff), *(f"{p}%" for p in EXPIRING_PREFIXES))).rowcount

    def ping(self) -> None:
        self._connection().execute("SELECT 1").fetchone()

    def close(self) -> None:
        self._closed = True
        with self._lock:
            for connection in self._connections.values():
                connection.close()
            self._connections.clear()
        self._local = threading.local()


def _filters(start_date: datetime | None, end_date: datetime | None, types: Sequence[str],
             station: str | None) -> tuple[list[str], list[object]]:
    where: list[str] = []
    params: list[object] = []
    if start_date is not None:
        where.append("date_us >= ?")
        params.append(to_micros(start_date))
    if end_date is not None:
        where.append("date_us <= ?")
        params.append(to_micros(end_date))
    if types:
        where.append(f"type IN ({', '.join('?' for _ in types)})")
        params += list(types)
    if station is not None:
        where.append("charging_station_id = ?")
        params.append(station)
    return where, params


def _where(conditions: list[str]) -> str:
    return f" WHERE {' AND '.join(conditions)}" if conditions else ""


def _to_event(row: tuple) -> StoredEvent:
    event_id, event_type, date_us, station, body = row
    return StoredEvent(event_id, event_type, from_micros(date_us), station, None, bytes(body))
