"""The SQL unit of work: one connection, one transaction, on the database whose statements
(`SqlStatements` subclass) and station cache `bootstrap.py` gives it."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import Engine

from save_server.domain.ports import UnitOfWork
from save_server.infrastructure.db.repositories import (
    SqlChargeRepository,
    SqlProcessedEvents,
    SqlStationRepository,
)
from save_server.infrastructure.db.statements import SqlStatements
from save_server.infrastructure.db.station_cache import StationCache
from save_server.infrastructure.id_tags.charges import publish_active_charges
from save_server.infrastructure.outbox.writer import add_to_outbox
from save_server.infrastructure.projections import SqlProjections


class SqlUnitOfWork(UnitOfWork):
    def __init__(self, engine: Engine, statements: type[SqlStatements],
                 station_cache: StationCache | None = None) -> None:
        self._engine = engine
        self._statements = statements
        self._station_cache = station_cache

    def __enter__(self) -> SqlUnitOfWork:
        self._db = self._engine.connect()
        self._transaction = self._db.begin()
        self._sql = self._statements(self._db)
        self._sql.take_write_lock()
        self.stations = self._station_repository = SqlStationRepository(
            self._sql, self._station_cache)
        self.charges = self._charge_repository = SqlChargeRepository(self._sql)
        self.processed_events = self._processed = SqlProcessedEvents(self._sql)
        self.projections = SqlProjections(self._sql)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            self.rollback()
        finally:
            self._db.close()

    def commit(self) -> None:
        with self._sql.batched():  # every table's rows in one round trip where it can
            self._station_repository.save_all()
            self._charge_repository.save_all()
            self._processed.save_all()
        publish_active_charges(self._db, self._charge_repository.started_or_ended_tags())
        for event in self.pending_events():
            add_to_outbox(self._db, event)
        self._transaction.commit()
        self.pending_events().clear()
        self._station_repository.committed()

    def rollback(self) -> None:
        if self._transaction.is_active:
            self._transaction.rollback()
