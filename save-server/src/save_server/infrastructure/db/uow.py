"""The SQL unit of work: one connection, one transaction."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import Engine

from save_server.domain.ports import UnitOfWork
from save_server.infrastructure.db.bulk import deferred_writes
from save_server.infrastructure.db.repositories import (
    SqlChargeRepository,
    SqlProcessedEvents,
    SqlStationRepository,
)
from save_server.infrastructure.db.station_cache import cache_for


class SqlUnitOfWork(UnitOfWork):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def __enter__(self) -> SqlUnitOfWork:
        self._db = self._engine.connect()
        self._transaction = self._db.begin()
        if self._db.dialect.name == "sqlite":
            # Take the write lock up front: a deferred transaction that reads and then writes
            # fails at once (SQLITE_BUSY) when another writer committed in between.
            self._db.exec_driver_sql("BEGIN IMMEDIATE")
        self.stations = self._station_repository = SqlStationRepository(
            self._db, cache_for(self._engine))
        self.charges = self._charge_repository = SqlChargeRepository(self._db)
        self.processed_events = self._processed = SqlProcessedEvents(self._db)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            self.rollback()
        finally:
            self._db.close()

    def commit(self) -> None:
        with deferred_writes(self._db):  # every table's rows in one round trip
            self._station_repository.save_all()
            self._charge_repository.save_all()
            self._processed.save_all()
        self._transaction.commit()
        self._station_repository.committed()

    def rollback(self) -> None:
        if self._transaction.is_active:
            self._transaction.rollback()
