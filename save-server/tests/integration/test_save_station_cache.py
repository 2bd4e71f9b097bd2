"""The worker reuses the stations it committed last (StationCache) only while nobody else
wrote them: another process's write bumps the row's revision, a rolled-back batch leaves
nothing behind. Checked against one fresh load of the same station."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from save_server.bootstrap import Container, bootstrap
from save_server.config import Settings
from save_server.domain.model import StatusReport
from save_server.domain.rules import ConnectorStatus
from save_server.infrastructure.db import tables
from save_server.infrastructure.db.documents import station_document
from save_server.infrastructure.db.readers import SqlStationReader
from save_server.infrastructure.translation import parse_envelope, translate
from save_server.service.ingest import IncomingEvent, ingest_events

pytestmark = pytest.mark.integration


@pytest.fixture
def workers(database_url: str, tmp_path: Path) -> Iterator[tuple[Container, Container]]:
    """Two containers on one database: two worker processes, each with its own cache."""
    first, second = (bootstrap(Settings(database_url=database_url, data_dir=tmp_path))
                     for _ in range(2))
    yield first, second
    first.close()
    second.close()


def feed(container: Container, events: list[dict[str, Any]]) -> None:
    incoming = []
    for event in events:
        envelope = parse_envelope(json.dumps(event).encode())
        incoming.append(IncomingEvent(str(envelope.event_id), envelope.type,
                                      translate(envelope)))
    ingest_events(container.uow_factory, incoming)


def listed(container: Container, station_id: str) -> Any:
    view = SqlStationReader(container.engine).get(station_id)
    assert view is not None
    return view


def test_a_write_by_another_process_is_not_overwritten(
        workers: tuple[Container, Container], charger: Callable[..., Any]) -> None:
    first, second = workers
    cp = charger()
    feed(first, [cp.connect(), cp.boot(), cp.status(1, "Available")])
    assert len(first.station_cache) >= 1
    feed(second, [cp.status(1, "Preparing"), cp.start(1, 5, 100, "TAG-2")])
    feed(first, [cp.status(2, "Faulted", "GroundFailure")])  # its cached copy is stale
    view = listed(first, cp.station_id)
    by_id = {c.connector_id: c for c in view.connectors}
    assert by_id[1].raw_status == "Preparing" and by_id[1].id_tag == "TAG-2"
    assert by_id[2].status is ConnectorStatus.FAULTED
    # and the other way round
    feed(second, [cp.status(1, "Charging"), cp.disconnect()])
    cp.reconnect()
    feed(first, [cp.connect()])
    view = listed(second, cp.station_id)
    assert view.status.value == "connected"
    assert {c.connector_id: c.raw_status for c in view.connectors} == {
        1: "Charging", 2: "Faulted"}


def test_a_rolled_back_batch_leaves_nothing_in_the_cache(
        workers: tuple[Container, Container], charger: Callable[..., Any]) -> None:
    worker, _ = workers
    cp = charger()
    feed(worker, [cp.connect(), cp.boot(), cp.status(1, "Available")])
    with pytest.raises(RuntimeError), worker.uow_factory() as uow:
        station = uow.stations.get(cp.station_id)
        assert station is not None
        station.report_status(1, StatusReport(cp.tick(), ConnectorStatus.FAULTED, "Faulted"))
        station.update_details(name="never committed")
        raise RuntimeError("the batch failed before its commit")
    feed(worker, [cp.heartbeat()])
    view = listed(worker, cp.station_id)
    assert view.name is None
    assert [c.raw_status for c in view.connectors] == ["Available"]


def test_cached_stations_give_the_state_a_fresh_load_gives(
        workers: tuple[Container, Container], charger: Callable[..., Any]) -> None:
    """Many batches through one cache, then the same station read fresh (no cache)."""
    worker, _ = workers
    cp = charger()
    feed(worker, [cp.connect(), cp.boot()])
    for transaction in range(1, 4):
        feed(worker, [cp.status(1, "Preparing"), cp.start(1, transaction, transaction * 1000)])
        feed(worker, [cp.status(1, "Charging"),
                      cp.meter_values(1, [{"value": str(transaction * 1000 + 5)}], transaction)])
        feed(worker, [cp.stop(transaction, transaction * 1000 + 900, "Local"),
                      cp.status(1, "Finishing"), cp.status(1, "Available")])
        feed(worker, [cp.disconnect()])
        cp.reconnect()
        feed(worker, [cp.connect(), cp.heartbeat()])
    with worker.engine.connect() as db:
        revision = db.execute(select(tables.stations.c.revision).where(
            tables.stations.c.station_id == cp.station_id)).scalar_one()
    entry = worker.station_cache.take(cp.station_id, revision)
    assert entry is not None
    cached = entry[0]
    with worker.uow_factory() as uow:
        uow.stations._cache = None  # type: ignore[attr-defined]  # a fresh load
        fresh = uow.stations.get(cp.station_id)
    assert fresh is not None
    assert station_document(cached) == station_document(fresh)
    assert cached.status.value == "connected" and cached.first_connected_at is not None
    connector = cached.connectors[1]
    assert connector.raw_status == "Available" and connector.id_tag is None
    assert connector.reports == fresh.connectors[1].reports
    assert set(cached.connections) == set(fresh.connections)
