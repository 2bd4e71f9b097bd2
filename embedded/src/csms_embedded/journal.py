"""The durable part of the in-process broker: the messages of durable queues in a SQLite file.

One writer thread owns the connection and commits whatever was submitted meanwhile in one
transaction (group commit), so many publishes share one fsync. The file is in WAL mode with
`synchronous=FULL`: a commit returns only once the WAL is on disk, so a message whose publish
was confirmed survives a `kill -9` and a power cut. Acknowledgements are deletes sent without
waiting: one lost to a crash only means a redelivery, which consumers take as a duplicate. So
they do not get a commit (an fsync) of their own: they ride along with the next commit of
publishes, or are committed `ACK_FLUSH_SECONDS` later when no publish comes — publishes never
queue behind a commit made only for acknowledgements.
"""

from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)
MAX_BATCH = 2000  # submissions per transaction
ACK_FLUSH_SECONDS = 0.2  # the longest an acknowledgement waits for a commit to ride along


@dataclass(frozen=True)
class StoredMessage:
    id: int
    queue: str
    exchange: str
    routing_key: str
    body: bytes
    headers: dict
    properties: dict


@dataclass
class Change:
    """One submission: rows to insert, ids to delete, ids to move to another queue, queues to
    empty; `on_commit` runs in the writer thread right after the commit, then `done` is set
    and `on_settled` called (with the error, or None). A publish passes `done=None` and only
    `on_settled`: a Future costs a Condition each, thousands per second on the gateway's
    interpreter."""

    inserts: list[StoredMessage] = field(default_factory=list)
    deletes: list[int] = field(default_factory=list)
    moves: list[tuple[int, str]] = field(default_factory=list)
    purges: list[str] = field(default_factory=list)
    on_commit: Callable[[], None] | None = None
    done: Future[None] | None = field(default_factory=Future)
    on_settled: Callable[[BaseException | None], None] | None = None

    def settle(self, error: BaseException | None) -> None:
        if self.done is not None:
            if error is None:
                self.done.set_result(None)
            else:
                self.done.set_exception(error)
        if self.on_settled is not None:
            try:
                self.on_settled(error)
            except Exception:  # the submitter's callback: never the writer thread's end
                log.exception("journal: a commit callback failed")


_SCHEMA = """CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY, queue TEXT NOT NULL, exchange TEXT NOT NULL,
    routing_key TEXT NOT NULL, body BLOB NOT NULL, headers TEXT NOT NULL,
    properties TEXT NOT NULL)"""
# a consumer process reads its queue's rows in order (csms_embedded.consumers)
_INDEX = "CREATE INDEX IF NOT EXISTS messages_by_queue ON messages (queue, id)"
BUSY_TIMEOUT_SECONDS = 30  # consumer processes delete their acknowledged rows in this file


class Journal:
    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                   timeout=BUSY_TIMEOUT_SECONDS)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)
        self._db.execute(_INDEX)
        self._path = path
        self._reader: sqlite3.Connection | None = None
        self._reading = threading.Lock()
        last = self._db.execute("SELECT max(id) FROM messages").fetchone()[0]
        self._next_id = (last or 0) + 1
        self._ids = threading.Lock()
        self._forgotten: list[int] = []  # acknowledged ids not yet deleted (under `_ids`)
        self._changes: queue.SimpleQueue[Change | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write, name="broker-journal", daemon=True)
        self._writer.start()

    def stored(self) -> dict[str, list[StoredMessage]]:
        """What the durable queues held when the journal was opened, by queue, in order."""
        by_queue: dict[str, list[StoredMessage]] = {}
        rows = self._db.execute("SELECT id, queue, exchange, routing_key, body, headers, "
                                "properties FROM messages ORDER BY id").fetchall()
        for id_, queue_name, exchange, key, body, headers, properties in rows:
            by_queue.setdefault(queue_name, []).append(StoredMessage(
                id_, queue_name, exchange, key, bytes(body), json.loads(headers),
                json.loads(properties)))
        return by_queue

    def count(self, queue_name: str) -> int:
        """Rows of `queue_name` committed now (a queue a consumer process takes from here)."""
        with self._reading:
            if self._reader is None:
                self._reader = sqlite3.connect(self._path, check_same_thread=False,
                                               isolation_level=None,
                                               timeout=BUSY_TIMEOUT_SECONDS)
            return self._reader.execute("SELECT count(*) FROM messages WHERE queue = ?",
                                        (queue_name,)).fetchone()[0]

    def new_id(self) -> int:
        with self._ids:
            self._next_id += 1
            return self._next_id - 1

    def submit(self, change: Change) -> Future[None] | None:
        """Queue `change` for the next commit; its `done` (None if made without one)."""
        self._changes.put(change)
        return change.done

    def forget(self, message_id: int) -> None:
        """Delete the row of an acknowledged message with the next commit (no waiting)."""
        with self._ids:
            self._forgotten.append(message_id)

    def forget_many(self, message_ids: Iterable[int]) -> None:
        with self._ids:
            self._forgotten.extend(message_ids)

    def close(self) -> None:
        """Commit what was submitted, then stop the writer and close the file."""
        self._changes.put(None)
        self._writer.join()
        self._db.close()
        with self._reading:
            if self._reader is not None:
                self._reader.close()

    def _write(self) -> None:
        while True:
            try:
                first = self._changes.get(timeout=ACK_FLUSH_SECONDS)
            except queue.Empty:
                if self._has_forgotten():
                    self._commit([])
                continue
            batch = [first] if first is not None else []
            closing = first is None
            while not closing and len(batch) < MAX_BATCH:
                try:
                    more = self._changes.get_nowait()
                except queue.Empty:
                    break
                closing = more is None
                if more is not None:
                    batch.append(more)
            if batch or (closing and self._has_forgotten()):
                self._commit(batch)
            if closing:
                return

    def _has_forgotten(self) -> bool:
        with self._ids:
            return bool(self._forgotten)

    def _take_forgotten(self) -> list[int]:
        with self._ids:
            taken, self._forgotten = self._forgotten, []
            return taken

    def _commit(self, batch: list[Change]) -> None:
        forgotten = self._take_forgotten()
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(m.id, m.queue, m.exchange, m.routing_key, m.body, json.dumps(m.headers),
                  json.dumps(m.properties)) for c in batch for m in c.inserts])
            self._db.executemany("DELETE FROM messages WHERE id = ?",
                                 [(i,) for i in forgotten]
                                 + [(i,) for c in batch for i in c.deletes])
            self._db.executemany("UPDATE messages SET queue = ? WHERE id = ?",
                                 [(q, i) for c in batch for i, q in c.moves])
            self._db.executemany("DELETE FROM messages WHERE queue = ?",
                                 [(q,) for c in batch for q in c.purges])
            self._db.execute("COMMIT")
        except Exception as error:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            with self._ids:  # tried again with the next commit
                self._forgotten[:0] = forgotten
            for change in batch:
                change.settle(error)
            return
        for change in batch:
            try:
                if change.on_commit is not None:
                    change.on_commit()
            except Exception as error:
                change.settle(error)
            else:
                change.settle(None)
