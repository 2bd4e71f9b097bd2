"""Events in, exactly once in effect, whatever the order: the ingest use case with fakes."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from save_server.domain.rules import ChargeStatus, ConnectorStatus, StationStatus
from save_server.infrastructure.translation import parse_envelope, translate
from save_server.service.ingest import ingest_event

STOP_REASONS = [None, "Local", "Remote", "EmergencyStop", "PowerLoss", "EVDisconnected"]


def deliver(uow_factory: Callable[[], Any], events: list[dict[str, Any]]) -> list[bool]:
    applied = []
    for event in events:
        envelope = parse_envelope(json.dumps(event).encode())
        applied.append(ingest_event(uow_factory, str(envelope.event_id), envelope.type,
                                    translate(envelope)))
    return applied


def snapshot(store: Any) -> dict[str, Any]:
    """Everything the API shows, without surrogate ids."""
    stations = {}
    for station_id, s in store.stations.items():
        stations[station_id] = {
            "status": s.status, "first": s.first_connected_at, "last": s.last_connected_at,
            "seen": s.last_seen_at, "boot": (s.boot_info, s.boot_info_at),
            "availability": s.availability,
            "connectors": {cid: (c.status, c.raw_status, c.error_code, c.status_at,
                                 c.last_used_at, c.id_tag)
                           for cid, c in s.connectors.items()},
            "readings": dict(s.readings),
        }
    charges = {key: (c.connector_id, c.id_tag, c.status, c.stop_reason, c.started_at,
                     c.ended_at, c.energy_wh, c.duration_seconds)
               for key, c in store.charges.items()}
    meter_values = {key: sorted(values, key=repr) for key, values in store.meter_values.items()}
    return {"stations": stations, "charges": charges, "meter_values": meter_values}


def session_events(charger: Any, draw: Any) -> list[dict[str, Any]]:
    """A station's day: boot, statuses, charges (some interrupted by a lost connection)."""
    cp = charger()
    events = [cp.boot(), cp.status(0, "Available"), cp.status(1, "Available"),
              cp.status(2, "Available")]
    for n in range(draw(st.integers(1, 3))):
        connector = draw(st.sampled_from([1, 2]))
        transaction = 100 + n
        meter = draw(st.integers(0, 10_000))
        events += [cp.status(connector, "Preparing"),
                   cp.start(connector, transaction, meter, f"TAG-{n}"),
                   cp.status(connector, draw(st.sampled_from(["Charging", "SuspendedEV"]))),
                   cp.meter_values(connector, [{"value": str(meter + 500)},
                                               {"value": "230", "measurand": "Voltage"}],
                                   transaction)]
        if draw(st.booleans()):
            events += [cp.disconnect()]
            cp.reconnect()
            events += [cp.boot(), cp.heartbeat()]
        events += [cp.stop(transaction, meter + draw(st.integers(0, 50_000)),
                           draw(st.sampled_from(STOP_REASONS))),
                   cp.status(connector, "Finishing"),
                   cp.status(connector, draw(st.sampled_from(["Available", "Faulted"])))]
    if draw(st.booleans()):
        events.append(cp.disconnect())
    return events


@st.composite
def shuffled_sessions(draw: Any, charger: Any) -> tuple[list[dict], list[dict]]:
    events: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, 2))):
        events += session_events(charger, draw)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = random.Random(seed)
    shuffled = events + [e for e in events if rng.random() < 0.3]
    rng.shuffle(shuffled)
    return events, shuffled


def test_shuffled_and_duplicated_events_give_the_in_order_state(
        charger: Callable[..., Any], fakes: Any) -> None:
    MemoryStore, MemoryUnitOfWork = fakes.MemoryStore, fakes.MemoryUnitOfWork

    @settings(max_examples=60, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        in_order, shuffled = data.draw(shuffled_sessions(charger))
        expected_store, actual_store = MemoryStore(), MemoryStore()
        deliver(lambda: MemoryUnitOfWork(expected_store), in_order)
        deliver(lambda: MemoryUnitOfWork(actual_store), shuffled)
        assert snapshot(actual_store) == snapshot(expected_store)
        assert len(actual_store.processed) == len(in_order)

    check()


def test_every_event_delivered_twice_changes_nothing_the_second_time(
        charger: Callable[..., Any], store: Any, memory_uow: Callable[[], Any]) -> None:
    cp = charger()
    events = [cp.boot(), cp.status(1, "Available"), cp.start(1, 1, 100), cp.status(1, "Charging"),
              cp.meter_values(1, [{"value": "150"}], 1), cp.stop(1, 900, "Local"),
              cp.status(1, "Available")]
    assert deliver(memory_uow, events) == [True] * len(events)
    before = snapshot(store)
    assert deliver(memory_uow, events) == [False] * len(events)
    assert snapshot(store) == before
    assert len(store.meter_values[(cp.station_id, "1")]) == 1


def test_a_stop_handled_before_its_start_yields_one_correct_charge(
        charger: Callable[..., Any], store: Any, memory_uow: Callable[[], Any]) -> None:
    cp = charger()
    start, stop = cp.start(1, 7, 1000), cp.stop(7, 4000, "Remote")
    deliver(memory_uow, [stop, start])
    [charge] = store.charges.values()
    assert (charge.status, charge.energy_wh, charge.connector_id) == (
        ChargeStatus.FINISHED, 3000, 1)
    assert charge.duration_seconds is not None and charge.duration_seconds > 0


def test_a_late_disconnect_of_an_old_connection_keeps_the_station_connected(
        charger: Callable[..., Any], store: Any, memory_uow: Callable[[], Any]) -> None:
    cp = charger()
    old_boot = cp.boot()
    old_disconnect = cp.disconnect()
    cp.reconnect()
    deliver(memory_uow, [old_boot, cp.boot(), old_disconnect])
    assert store.stations[cp.station_id].status is StationStatus.CONNECTED


def test_an_older_status_delivered_late_does_not_overwrite(
        charger: Callable[..., Any], store: Any, memory_uow: Callable[[], Any]) -> None:
    cp = charger()
    older, newer = cp.status(1, "Charging"), cp.status(1, "Faulted")
    deliver(memory_uow, [newer, older])
    connector = store.stations[cp.station_id].connectors[1]
    assert connector.status is ConnectorStatus.FAULTED


def test_a_failing_event_leaves_no_trace(charger: Callable[..., Any], store: Any,
                                         fakes: Any) -> None:
    """All or nothing: a crash in the middle records neither the effect nor the event id."""
    class Crashing(fakes.MemoryUnitOfWork):  # type: ignore[name-defined, misc]
        def commit(self) -> None:
            raise RuntimeError("database went away")

    cp = charger()
    event = cp.start(1, 1, 0)
    with pytest.raises(RuntimeError):
        deliver(lambda: Crashing(store), [event])
    assert store.charges == {} and store.processed == set()


def test_a_station_that_reconnects_quietly_is_connected(
        charger: Callable[..., Any], store: Any, memory_uow: Callable[[], Any]) -> None:
    """OCPP 1.6 needs no BootNotification after a reconnect: the gateway's connect event is
    enough, even when it arrives after the old connection's disconnect."""
    cp = charger()
    first = [cp.connect(), cp.boot()]
    old = cp.connection_id
    cp.reconnect()
    connect = cp.connect(replaced=old)
    cp.connection_id = old
    late_disconnect = cp.disconnect()
    deliver(memory_uow, [*first, connect, late_disconnect])
    station = store.stations[cp.station_id]
    assert station.status is StationStatus.CONNECTED
    assert station.last_connected_at == station.connections[connect["connection_id"]].first_seen_at
