"""One contract for every LocalListStore adapter (memory, SQLite, PostgreSQL): a state comes
back as saved, held entries included; sends come back newest first; stations by support."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine

from save_server.bootstrap import Container
from save_server.domain.local_lists import (
    ListEntry,
    ListStatus,
    LocalListSend,
    LocalListState,
    LocalListStore,
    Support,
    UpdateType,
)
from save_server.infrastructure.local_lists.memory import MemoryLocalListStore
from save_server.infrastructure.local_lists.store import SqlLocalListStore
from save_server.infrastructure.translation import parse_envelope, translate
from save_server.service.ingest import ingest_event

pytestmark = pytest.mark.integration
T0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest) -> Iterator[LocalListStore]:
    if request.param == "memory":
        yield MemoryLocalListStore()
        return
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    engine = create_engine(url)
    yield SqlLocalListStore(engine)
    engine.dispose()


def station() -> str:
    return f"CP-{uuid.uuid4().hex[:8]}"


def test_a_state_comes_back_as_saved_and_a_second_save_replaces_it(
        store: LocalListStore) -> None:
    cp = station()
    assert store.get(cp) is None and not store.station_known(cp)
    held = {"alice": ListEntry("Alice", ListStatus.ACCEPTED, T0 + timedelta(days=30), "APT-1",
                               "ISO14443"),
            "lost": ListEntry("LOST", ListStatus.BLOCKED, None, None, "KeyCode")}
    state = LocalListState(cp, Support.SUPPORTED, "1.6", "fw-1", True, 100, 20, 7, 7, held, 42,
                           True, T0)
    store.save(state)
    assert store.get(cp) == state
    assert store.station_known(cp)
    state.held, state.support, state.last_version = None, Support.NOT_SUPPORTED, 9
    store.save(state)
    assert store.get(cp) == state
    state.held, state.source_revision = held, 43
    store.save(state)
    state.held, state.source_revision = {}, 44
    store.save(state, with_held=False)  # the held entries stay as stored
    assert store.get(cp) == LocalListState(cp, Support.NOT_SUPPORTED, "1.6", "fw-1", True, 100,
                                           20, 9, 7, held, 44, True, T0)


def test_sends_newest_first_and_stations_by_support(store: LocalListStore) -> None:
    cp, other = station(), station()
    for n in range(3):
        store.record(LocalListSend(str(uuid.uuid4()), cp, n + 1, UpdateType.DIFFERENTIAL, n,
                                   1, 1, T0 + timedelta(seconds=n), "accepted", "Accepted",
                                   "tags-changed"))
    store.record(LocalListSend(str(uuid.uuid4()), other, 1, UpdateType.FULL, 0, 1, 1, T0,
                               "rejected", "Failed", "connect"))
    assert [s.version for s in store.sends(cp, 2)] == [3, 2]
    assert store.sends(other, 10)[0].status == "Failed"
    store.save(LocalListState(cp, Support.SUPPORTED))
    store.save(LocalListState(other, Support.NOT_SUPPORTED))
    assert cp in store.stations(Support.SUPPORTED)
    assert other not in store.stations(Support.SUPPORTED)
    assert {cp, other} <= set(store.stations(None))


def test_stations_holding_a_tag_or_whose_list_is_unknown(store: LocalListStore) -> None:
    holds, other, unknown, unsupported = station(), station(), station(), station()
    entry = ListEntry("Alice", ListStatus.ACCEPTED, None, None, "ISO14443")
    store.save(LocalListState(holds, Support.SUPPORTED, held={"alice": entry}))
    store.save(LocalListState(other, Support.SUPPORTED, held={"bob": entry}))
    store.save(LocalListState(unknown, Support.SUPPORTED))  # held None: we do not know
    store.save(LocalListState(unsupported, Support.NOT_SUPPORTED, held={"alice": entry}))
    found = set(store.stations_holding({"alice", "carol"}))
    assert {holds, unknown} <= found and not {other, unsupported} & found


def test_unchecked_connected_stations_sql(container: Container) -> None:
    """The station view's connected stations without a local-list state (SQL only: the
    memory adapter is told which are connected)."""
    store = container.local_list_store()
    fresh, checked = station(), station()
    connections = {cp: str(uuid.uuid4()) for cp in (fresh, checked)}
    for cp in (fresh, checked):
        event = {"event_id": str(uuid.uuid4()), "type": "ocpp-events.connect",
                 "schema_version": 1, "charging_station_id": cp, "ocpp_version": "1.6",
                 "connection_id": connections[cp], "message_id": None, "action": None,
                 "received_at": "2026-12-05T12:00:00Z", "payload": {}, "response": None}
        envelope = parse_envelope(json.dumps(event).encode())
        ingest_event(container.uow_factory, str(envelope.event_id), envelope.type,
                     translate(envelope))
    store.save(LocalListState(checked, Support.SUPPORTED))
    unchecked = dict(store.unchecked_connected(datetime(2026, 12, 5, 12, 0, 1, tzinfo=UTC)))
    assert fresh in unchecked and checked not in unchecked
    assert unchecked[fresh] == connections[fresh]  # its current connection
    assert fresh not in dict(store.unchecked_connected(datetime(2026, 12, 5, 12, 0,
                                                                tzinfo=UTC)))
