"""The connector rules that need a fact's source, arrival and EVSE connector, through the real
databases: each event in its own transaction on a fresh engine (no station cache), so every
fact is read back from its row before the next one applies."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from save_server.domain.rules import ConnectorStatus
from save_server.infrastructure.db.engine import make_engine
from save_server.infrastructure.db.readers import SqlStationReader
from save_server.infrastructure.db.uow import SqlUnitOfWork
from save_server.infrastructure.translation import parse_envelope, translate
from save_server.service.ingest import IncomingEvent, ingest_events

pytestmark = pytest.mark.integration


def feed_one_by_one(database_url: str, events: list[dict[str, Any]]) -> None:
    for event in events:
        engine = make_engine(database_url)
        envelope = parse_envelope(json.dumps(event).encode())
        ingest_events(lambda engine=engine: SqlUnitOfWork(engine), [IncomingEvent(
            str(envelope.event_id), envelope.type, translate(envelope))])
        engine.dispose()


def shown(database_url: str, station_id: str) -> dict[int, Any]:
    engine = make_engine(database_url)
    view = SqlStationReader(engine).get(station_id)
    engine.dispose()
    assert view is not None
    return {c.connector_id: c for c in view.connectors}


def stamp(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def test_a_charge_without_status_reports(database_url: str,
                                         charger: Callable[..., Any]) -> None:
    cp = charger()
    boot, start = cp.boot(), cp.start(1, 7, 100, "TAG-7")
    feed_one_by_one(database_url, [boot, start])
    during = shown(database_url, cp.station_id)[1]
    assert (during.status, during.id_tag) == (ConnectorStatus.IN_USE, "TAG-7")
    stop = cp.stop(7, 900, "Local")
    feed_one_by_one(database_url, [stop])
    after = shown(database_url, cp.station_id)[1]
    ended = datetime.fromisoformat(stop["payload"]["timestamp"])
    assert (after.status, after.last_used_at, after.id_tag) == (
        ConnectorStatus.AVAILABLE, ended, None)


def test_reports_in_the_second_of_the_boot_after_it_on_its_connection(
        database_url: str, charger: Callable[..., Any]) -> None:
    cp = charger(version="2.0.1")
    received = cp.tick().replace(microsecond=654_321)
    boot = cp.boot201()
    boot["received_at"] = stamp(received)
    reports = [cp.status201(1, "Occupied", at=received.replace(microsecond=0)),
               cp.status201(2, "Faulted", at=received.replace(microsecond=0))]
    for n, report in enumerate(reports, start=1):
        report["received_at"] = stamp(received + timedelta(milliseconds=n))
    feed_one_by_one(database_url, [reports[1], boot, reports[0]])
    evses = shown(database_url, cp.station_id)
    assert (evses[1].raw_status, evses[2].raw_status) == ("Occupied", "Faulted")


def test_an_evse_with_two_connectors(database_url: str, charger: Callable[..., Any]) -> None:
    cp = charger(version="2.0.1")
    feed_one_by_one(database_url, [cp.boot201(), cp.status201(1, "Occupied", connector_id=1),
                                   cp.status201(1, "Unavailable", connector_id=2)])
    assert shown(database_url, cp.station_id)[1].raw_status == "Occupied"
    released = cp.status201(1, "Available", connector_id=1)
    feed_one_by_one(database_url, [released])
    evse = shown(database_url, cp.station_id)[1]
    assert (evse.raw_status, evse.last_used_at) == (
        "Available", datetime.fromisoformat(released["payload"]["timestamp"]))
