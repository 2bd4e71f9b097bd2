"""Races made on purpose: one connection holds a write uncommitted while a store's write, in a
thread, runs into it. `writes_wait_on(engine, holder)` yields `wait()`, which returns once
another connection's write waits on `holder`:
- PostgreSQL: a backend other than the holder's waits on a lock (pg_stat_activity);
- SQLite (one writer at a time, no row locks): another connection began a write statement,
  which SQLite's busy handler holds until the holder commits. Everything that write's
  transaction read before it (the store's own checks) was read before the holder's commit."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Connection, Engine, event, text

WRITES = ("INSERT", "UPDATE", "DELETE")


@contextlib.contextmanager
def writes_wait_on(engine: Engine, holder: Connection) -> Iterator[Callable[[], None]]:
    if engine.dialect.name == "postgresql":
        yield lambda: postgres_lock_wait(engine, holder)
        return
    writing = threading.Event()

    def seen(conn: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        if conn is not holder and statement.lstrip().upper().startswith(WRITES):
            writing.set()

    event.listen(engine, "before_cursor_execute", seen)
    try:
        def wait() -> None:
            assert writing.wait(10), "no other write began"
            time.sleep(0.1)  # into the busy handler's wait
        yield wait
    finally:
        event.remove(engine, "before_cursor_execute", seen)


def postgres_lock_wait(engine: Engine, holder: Connection) -> None:
    me = holder.execute(text("SELECT pg_backend_pid()")).scalar_one()
    for _ in range(200):
        with engine.connect() as db:
            if db.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                    "current_database() AND wait_event_type = 'Lock' AND pid <> :me"),
                    {"me": me}).scalar_one():
                return
        time.sleep(0.05)
    raise AssertionError("the write never waited on the other's lock")
