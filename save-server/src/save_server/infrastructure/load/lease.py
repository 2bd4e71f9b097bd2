"""The load-management lease: one process of the platform at a time manages load.

PostgreSQL: a session advisory lock held on a connection of its own; it is released when
that connection closes (the process died, or lost the database), and another API replica
takes it over. SQLite (embedded mode, one process): always held."""

from __future__ import annotations

import contextlib
import threading

from sqlalchemy import Connection, Engine, text

from save_server.domain.load.ports import Lease

LOCK_KEY = 0x4C4F4144  # "LOAD"


class PostgresLease(Lease):
    def __init__(self, engine: Engine, key: int = LOCK_KEY) -> None:
        self._engine, self._key = engine, key
        self._connection: Connection | None = None
        self._lock = threading.Lock()

    def try_acquire(self) -> bool:
        with self._lock:
            if self._connection is not None:
                return True
            connection = self._engine.connect()
            try:
                got = connection.execute(text("SELECT pg_try_advisory_lock(:key)"),
                                         {"key": self._key}).scalar()
                connection.commit()
            except Exception:
                connection.close()
                raise
            if got:
                self._connection = connection
            else:
                connection.close()
            return bool(got)

    def held(self) -> bool:
        with self._lock:
            if self._connection is None:
                return False
            try:
                self._connection.execute(text("SELECT 1"))
                self._connection.commit()
                return True
            except Exception:
                self._connection.invalidate()
                self._connection = None
                return False

    def release(self) -> None:
        with self._lock:
            if self._connection is not None:
                with contextlib.suppress(Exception):  # unlocked now, not when the server
                    self._connection.execute(text("SELECT pg_advisory_unlock(:key)"),
                                             {"key": self._key})  # notices the close
                    self._connection.commit()
                self._connection.invalidate()  # the session ends (not back to the pool)
                self._connection.close()
                self._connection = None


class OneProcessLease(Lease):
    """SQLite: one process owns the database; it always manages load."""

    def try_acquire(self) -> bool:
        return True

    def held(self) -> bool:
        return True

    def release(self) -> None:
        pass


LEASES = {"postgresql": PostgresLease, "sqlite": lambda engine: OneProcessLease()}
