"""Shared fixtures: an OCPP event builder and in-memory fakes of the ports."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from save_server.domain.model import Charge, MeterSample, Station
from save_server.domain.ports import (
    ChargeRepository,
    ProcessedEvents,
    Projections,
    StationRepository,
    UnitOfWork,
)

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL",
                                    "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


@contextlib.contextmanager
def _postgres_database(prefix: str, template: str | None = None) -> Iterator[str]:
    """A new database (optionally a copy of `template`), dropped afterwards; yields its URL.
    PostgreSQL missing: skipped, or a failure under CI=true."""
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    copy_of = f' TEMPLATE "{template}"' if template else ""
    try:
        with admin.connect() as db:
            db.execute(text(f'CREATE DATABASE "{name}"{copy_of}'))
    except Exception as error:
        admin.dispose()
        message = f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {error}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message} (CI=true: a missing server is a failure)")
        pytest.skip(message)
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(
            hide_password=False)
    finally:
        with admin.connect() as db:
            db.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_database() -> Callable[..., contextlib.AbstractContextManager[str]]:
    """`with postgres_database("prefix"[, template=name]) as url:` — see _postgres_database."""
    return _postgres_database


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Charger:
    """Builds the events the gateway would publish for one station (contract: docs/events.md)."""

    def __init__(self, station_id: str | None = None, version: str = "1.6",
                 start: datetime = T0) -> None:
        self.station_id = station_id or f"CP-{uuid.uuid4().hex[:8]}"
        self.version = version
        self.connection_id = str(uuid.uuid4())
        self.now = start

    def tick(self, seconds: float = 1) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now

    def reconnect(self) -> None:
        self.connection_id = str(uuid.uuid4())

    def event(self, event_type: str, action: str | None, payload: dict[str, Any],
              response: dict[str, Any] | None = None,
              received_at: datetime | None = None) -> dict[str, Any]:
        return {
            "event_id": str(uuid.uuid4()), "type": f"ocpp-events.{event_type}",
            "schema_version": 1, "charging_station_id": self.station_id,
            "ocpp_version": self.version, "connection_id": self.connection_id,
            "message_id": None if action is None else str(uuid.uuid4())[:8], "action": action,
            "received_at": iso(received_at or self.tick()), "payload": payload,
            "response": response,
        }

    # -- OCPP 1.6 ---------------------------------------------------------------------
    def boot(self) -> dict[str, Any]:
        return self.event("boot-notification", "BootNotification", {
            "chargePointVendor": "ACME", "chargePointModel": "Wallbox 22",
            "chargePointSerialNumber": "SN-1", "firmwareVersion": "1.2.3"},
            {"status": "Accepted", "currentTime": iso(self.now), "interval": 300})

    def heartbeat(self) -> dict[str, Any]:
        return self.event("heart-beat", "Heartbeat", {}, {"currentTime": iso(self.now)})

    def status(self, connector_id: int, status: str, error_code: str = "NoError",
               at: datetime | None = None) -> dict[str, Any]:
        at = at or self.tick()
        return self.event("status-notification", "StatusNotification", {
            "connectorId": connector_id, "status": status, "errorCode": error_code,
            "timestamp": iso(at)}, {})

    def start(self, connector_id: int, transaction_id: int, meter_start: int,
              id_tag: str = "TAG-1", at: datetime | None = None) -> dict[str, Any]:
        at = at or self.tick()
        return self.event("start-transaction", "StartTransaction", {
            "connectorId": connector_id, "idTag": id_tag, "meterStart": meter_start,
            "timestamp": iso(at)},
            {"transactionId": transaction_id, "idTagInfo": {"status": "Accepted"}})

    def stop(self, transaction_id: int, meter_stop: int, reason: str | None = None,
             at: datetime | None = None) -> dict[str, Any]:
        at = at or self.tick()
        payload: dict[str, Any] = {"transactionId": transaction_id, "meterStop": meter_stop,
                                   "timestamp": iso(at)}
        if reason is not None:
            payload["reason"] = reason
        return self.event("stop-transaction", "StopTransaction", payload,
                          {"idTagInfo": {"status": "Accepted"}})

    def meter_values(self, connector_id: int, samples: list[dict[str, Any]],
                     transaction_id: int | None = None,
                     at: datetime | None = None) -> dict[str, Any]:
        at = at or self.tick()
        payload: dict[str, Any] = {"connectorId": connector_id, "meterValue": [
            {"timestamp": iso(at), "sampledValue": samples}]}
        if transaction_id is not None:
            payload["transactionId"] = transaction_id
        return self.event("meter-values", "MeterValues", payload, {})

    def connect(self, replaced: str | None = None) -> dict[str, Any]:
        return self.event("connect", None, {"replaced_connection_id": replaced}, None)

    def disconnect(self) -> dict[str, Any]:
        return self.event("disconnect", None, {"close_code": 1006, "reason": None}, None)

    # -- OCPP 2.0.1 -------------------------------------------------------------------
    def boot201(self) -> dict[str, Any]:
        return self.event("boot-notification", "BootNotification", {
            "reason": "PowerUp", "chargingStation": {
                "model": "Wallbox 201", "vendorName": "ACME", "serialNumber": "SN-2",
                "firmwareVersion": "2.0"}},
            {"status": "Accepted", "currentTime": iso(self.now), "interval": 300})

    def status201(self, evse_id: int, status: str,
                  at: datetime | None = None, connector_id: int = 1) -> dict[str, Any]:
        at = at or self.tick()
        return self.event("status-notification", "StatusNotification", {
            "timestamp": iso(at), "connectorStatus": status, "evseId": evse_id,
            "connectorId": connector_id}, {})

    def transaction201(self, event_type: str, transaction_id: str, evse_id: int = 1,
                       energy_wh: float | None = None, stopped_reason: str | None = None,
                       id_token: str | None = None,
                       at: datetime | None = None) -> dict[str, Any]:
        at = at or self.tick()
        info: dict[str, Any] = {"transactionId": transaction_id}
        if stopped_reason:
            info["stoppedReason"] = stopped_reason
        payload: dict[str, Any] = {
            "eventType": event_type, "timestamp": iso(at), "triggerReason": "Authorized",
            "seqNo": 0, "transactionInfo": info, "evse": {"id": evse_id, "connectorId": 1}}
        if id_token:
            payload["idToken"] = {"idToken": id_token, "type": "ISO14443"}
        if energy_wh is not None:
            payload["meterValue"] = [{"timestamp": iso(at), "sampledValue": [
                {"value": energy_wh, "measurand": "Energy.Active.Import.Register",
                 "unitOfMeasure": {"unit": "Wh"}}]}]
        return self.event("transaction-event", "TransactionEvent", payload,
                          {"idTokenInfo": {"status": "Accepted"}} if id_token else {})


def body(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


@pytest.fixture
def charger() -> Callable[..., Charger]:
    return Charger


# -- in-memory fakes of the ports ---------------------------------------------------------
class MemoryStore:
    def __init__(self) -> None:
        self.stations: dict[str, Station] = {}
        self.charges: dict[tuple[str, str], Charge] = {}
        self.meter_values: dict[tuple[str, str], list[MeterSample]] = {}
        self.processed: set[str] = set()
        self.published: list[Any] = []  # business events committed (the outbox)
        self.projected: list[Any] = []  # ProjectBusinessEvent commands applied


class MemoryProjections(Projections):
    def __init__(self, applied: list[Any]) -> None:
        self._applied = applied

    def apply(self, command: Any) -> None:
        self._applied.append(command)


class MemoryStations(StationRepository):
    def __init__(self, stations: dict[str, Station]) -> None:
        self._stations = stations

    def get(self, station_id: str) -> Station | None:
        return self._stations.get(station_id)

    def get_or_create(self, station_id: str, connection_ids: Any = ()) -> Station:
        return self._stations.setdefault(station_id, Station(station_id))


class MemoryCharges(ChargeRepository):
    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def get_or_create(self, station_id: str, transaction_id: str) -> Charge:
        key = (station_id, transaction_id)
        if key not in self._store.charges:
            self._store.charges[key] = Charge(station_id, transaction_id,
                                              id=len(self._store.charges) + 1)
        return self._store.charges[key]

    def add_meter_values(self, station_id: str, transaction_id: str,
                         samples: Any) -> None:
        self._store.meter_values.setdefault((station_id, transaction_id), []).extend(samples)


class MemoryProcessed(ProcessedEvents):
    def __init__(self, processed: set[str]) -> None:
        self._processed = processed

    def seen(self, event_id: str) -> bool:
        return event_id in self._processed

    def add(self, event_id: str, event_type: str) -> None:
        self._processed.add(event_id)


class MemoryUnitOfWork(UnitOfWork):
    """Works on a copy of the store; commit publishes the copy (all or nothing)."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self.committed = False

    def __enter__(self) -> MemoryUnitOfWork:
        self._work = copy.deepcopy(self._store)
        self.stations = MemoryStations(self._work.stations)
        self.charges = MemoryCharges(self._work)
        self.processed_events = MemoryProcessed(self._work.processed)
        self.projections = MemoryProjections(self._work.projected)
        return self

    def commit(self) -> None:
        for event in self.pending_events():
            self.processed_events.add(event.event_id, event.type)
            self._work.published.append(event)
        self.pending_events().clear()
        self._store.__dict__.update(self._work.__dict__)
        self.committed = True

    def rollback(self) -> None:
        pass


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def memory_uow(store: MemoryStore) -> Callable[[], MemoryUnitOfWork]:
    return lambda: MemoryUnitOfWork(store)


@pytest.fixture
def fakes() -> Any:
    """The fake classes themselves, for tests that need fresh stores or subclasses."""
    import types
    return types.SimpleNamespace(MemoryStore=MemoryStore, MemoryUnitOfWork=MemoryUnitOfWork)

