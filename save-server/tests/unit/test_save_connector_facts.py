"""A connector's status from every fact about it (thesis table 4.1), in any delivery order:
charges without status reports, reports in the same second as a boot, EVSEs with several
connectors. Events go through translation and ingest into the in-memory fakes."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from save_server.domain.model import BootInfo, FactSource, Station, StatusReport
from save_server.domain.rules import ConnectorStatus
from save_server.infrastructure.translation import parse_envelope, translate
from save_server.service.ingest import ingest_event

A, IN_USE, F = ConnectorStatus.AVAILABLE, ConnectorStatus.IN_USE, ConnectorStatus.FAULTED
R, U = ConnectorStatus.RESERVED, ConnectorStatus.UNAVAILABLE
T0 = datetime(2026, 11, 25, 8, tzinfo=UTC)
PROPERTY = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def deliver(store: Any, fakes: Any, events: list[dict[str, Any]]) -> Any:
    for event in events:
        envelope = parse_envelope(json.dumps(event).encode())
        ingest_event(lambda: fakes.MemoryUnitOfWork(store), str(envelope.event_id),
                     envelope.type, translate(envelope))
    return store


def connectors(store: Any, station_id: str) -> dict[int, tuple]:
    """What the API shows of each connector."""
    return {cid: (c.status, c.raw_status, c.error_code, c.status_at, c.last_used_at, c.id_tag)
            for cid, c in sorted(store.stations[station_id].connectors.items())}


def shuffled(events: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    copy = events + [e for e in events if rng.random() < 0.3]  # duplicates (redeliveries)
    rng.shuffle(copy)
    return copy


def when(event: dict[str, Any], field: str = "timestamp") -> datetime:
    return datetime.fromisoformat(event["payload"][field])


# -- a charge with no status report (1.6 and 2.0.1) ----------------------------------------------
def quiet_charges(cp: Any, draw: Any) -> tuple[list[dict], dict[int, datetime], list[tuple]]:
    """A station that boots and charges without a single StatusNotification; the end of the last
    charge per connector, and (events so far, connector, tag) at each charge's start."""
    events, ends, starts = [cp.boot() if cp.version == "1.6" else cp.boot201()], {}, []
    for n in range(draw(st.integers(1, 4))):
        connector, tag = draw(st.sampled_from([1, 2])), f"TAG-{n}"
        if cp.version == "1.6":
            start = cp.start(connector, 100 + n, 1000 * n, tag)
            middle = [cp.meter_values(connector, [{"value": str(1000 * n + 5)}], 100 + n)]
            stop = cp.stop(100 + n, 1000 * n + 500, draw(st.sampled_from([None, "Local"])))
        else:
            start = cp.transaction201("Started", f"tx-{n}", connector, 1000.0 * n, id_token=tag)
            middle = [cp.transaction201("Updated", f"tx-{n}", connector, 1000.0 * n + 5)]
            stop = cp.transaction201("Ended", f"tx-{n}", connector, 1000.0 * n + 500,
                                     stopped_reason="Local")
        events.append(start)
        starts.append((list(events), connector, tag))
        events += [*middle, stop]
        ends[connector] = when(stop)
        if draw(st.booleans()):  # a reboot between charges
            cp.reconnect()
            events.append(cp.boot() if cp.version == "1.6" else cp.boot201())
    return events, ends, starts


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_a_charge_without_status_reports_shows_in_use_then_available(
        charger: Callable[..., Any], fakes: Any, version: str) -> None:
    """Boot → available; start → in use with the tag; end → available, last used at the end,
    no tag — in any order, with duplicates."""

    @PROPERTY
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        cp = charger(version=version)
        events, ends, starts = quiet_charges(cp, data.draw)
        for so_far, connector, tag in starts:
            during = connectors(deliver(fakes.MemoryStore(), fakes, so_far), cp.station_id)
            assert (during[connector][0], during[connector][5]) == (IN_USE, tag)
        in_order = connectors(deliver(fakes.MemoryStore(), fakes, events), cp.station_id)
        assert {cid: (c[0], c[4], c[5]) for cid, c in in_order.items()} == {
            cid: (A, end, None) for cid, end in ends.items()}
        seed = data.draw(st.integers(0, 2**32 - 1))
        assert connectors(deliver(fakes.MemoryStore(), fakes, shuffled(events, seed)),
                          cp.station_id) == in_order

    check()


def test_a_status_report_after_the_end_of_a_charge_says_otherwise(
        charger: Callable[..., Any], store: Any, fakes: Any) -> None:
    cp = charger()
    events = [cp.boot(), cp.start(1, 7, 100, "TAG-7"), cp.stop(7, 900), cp.status(1, "Finishing")]
    assert connectors(deliver(store, fakes, events), cp.station_id)[1][:2] == (IN_USE,
                                                                               "Finishing")
    available = cp.status(1, "Available")
    shown = connectors(deliver(store, fakes, [available]), cp.station_id)[1]
    assert (shown[0], shown[4], shown[5]) == (A, when(available), None)


def test_a_status_report_while_charging_keeps_its_detail_and_the_tag(
        charger: Callable[..., Any], store: Any, fakes: Any) -> None:
    cp = charger()
    events = [cp.boot(), cp.status(1, "Preparing"), cp.start(1, 7, 100, "TAG-7")]
    status, raw, *_, tag = connectors(deliver(store, fakes, events), cp.station_id)[1]
    assert (status, raw, tag) == (IN_USE, "Preparing", "TAG-7")


def test_an_interrupted_charge_closed_after_a_reboot_keeps_the_connector_available(
        charger: Callable[..., Any], store: Any, fakes: Any) -> None:
    """Power cut: the boot makes the connector available; the stop queued meanwhile (with its
    own earlier timestamp) changes nothing."""
    cp = charger()
    start = cp.start(1, 7, 100, "TAG-7")
    cp.reconnect()
    boot = cp.boot()
    stop = cp.stop(7, 900, "PowerLoss", at=when(start) + timedelta(seconds=30))
    boot_received = datetime.fromisoformat(boot["received_at"])
    for order in ([start, boot, stop], [stop, boot, start], [boot, stop, start]):
        shown = connectors(deliver(fakes.MemoryStore(), fakes, order), cp.station_id)[1]
        assert (shown[0], shown[3], shown[4], shown[5]) == (A, boot_received, boot_received,
                                                            None)


# -- a report right after a boot -------------------------------------------------------------------
def boot_then_reports(cp: Any, boot_fraction: int, stamp: str) -> list[dict[str, Any]]:
    """A 2.0.1 station boots (received at a time with microseconds) and, on the same connection,
    reports EVSE 1 Occupied and EVSE 2 Faulted right after, with timestamps in whole seconds,
    equal to the boot's receipt, or a second behind (its clock lags the gateway's)."""
    received = cp.tick().replace(microsecond=boot_fraction)
    boot = cp.boot201()
    boot["received_at"] = received.isoformat().replace("+00:00", "Z")
    station_time = {"whole": received.replace(microsecond=0), "equal": received,
                    "behind": received.replace(microsecond=0) - timedelta(seconds=1)}[stamp]
    reports = []
    for n, (evse, status) in enumerate([(1, "Occupied"), (2, "Faulted")], start=1):
        report = cp.status201(evse, status, at=station_time)
        report["received_at"] = (received + timedelta(microseconds=100 * n)).isoformat() \
            .replace("+00:00", "Z")
        reports.append(report)
    return [boot, *reports]


@pytest.mark.parametrize("stamp", ["whole", "equal", "behind"])
def test_a_report_received_after_the_boot_on_its_connection_is_newer(
        charger: Callable[..., Any], fakes: Any, stamp: str) -> None:
    @PROPERTY
    @given(fraction=st.integers(0, 999_999), seed=st.integers(0, 2**32 - 1))
    def check(fraction: int, seed: int) -> None:
        cp = charger(version="2.0.1")
        events = boot_then_reports(cp, fraction, stamp)
        for order in (events, shuffled(events, seed)):
            shown = connectors(deliver(fakes.MemoryStore(), fakes, order), cp.station_id)
            assert (shown[1][:2], shown[2][:2]) == ((IN_USE, "Occupied"), (F, "Faulted"))

    check()


def test_a_report_sent_before_a_reboot_loses_to_the_boot(charger: Callable[..., Any],
                                                         fakes: Any) -> None:
    cp = charger(version="2.0.1")
    before = cp.status201(1, "Occupied")
    cp.reconnect()
    boot = cp.boot201()
    for order in ([before, boot], [boot, before]):
        assert connectors(deliver(fakes.MemoryStore(), fakes, order), cp.station_id)[1][0] is A


@pytest.mark.parametrize("statuses", [["Occupied", "Available"], ["Available", "Occupied"],
                                      ["Faulted", "Available", "Unavailable"]])
def test_reports_with_equal_timestamps_count_in_their_order_of_arrival(
        charger: Callable[..., Any], fakes: Any, statuses: list[str]) -> None:
    """Equal station times (whole seconds): the one the gateway received last is the newest,
    whatever order they are delivered in."""
    cp = charger(version="2.0.1")
    same = cp.tick()
    events = [cp.status201(1, status, at=same) for status in statuses]
    for seed in range(6):
        shown = connectors(deliver(fakes.MemoryStore(), fakes, shuffled(events, seed)),
                           cp.station_id)
        assert shown[1][1] == statuses[-1]


# -- an EVSE with several connectors -------------------------------------------------------------
@pytest.mark.parametrize(("reports", "shown"), [
    ([(1, "Occupied"), (2, "Unavailable")], "Occupied"),
    ([(2, "Unavailable"), (1, "Occupied")], "Occupied"),
    ([(1, "Faulted"), (2, "Faulted")], "Faulted"),
    ([(1, "Faulted"), (2, "Available")], "Available"),
    ([(1, "Unavailable"), (2, "Faulted")], "Unavailable"),
    ([(1, "Reserved"), (2, "Available")], "Reserved"),
    ([(1, "Available"), (1, "Unavailable")], "Unavailable"),  # one connector: its latest
    ([(1, "Occupied"), (2, "Faulted"), (1, "Available")], "Available"),
])
def test_an_evse_shows_the_first_status_of_the_precedence_among_its_connectors(
        charger: Callable[..., Any], fakes: Any, reports: list[tuple[int, str]],
        shown: str) -> None:
    cp = charger(version="2.0.1")
    events = [cp.boot201()] + [cp.status201(1, status, connector_id=c) for c, status in reports]
    for seed in range(4):
        assert connectors(deliver(fakes.MemoryStore(), fakes, shuffled(events, seed)),
                          cp.station_id)[1][1] == shown


def test_an_evse_is_in_use_until_its_last_occupied_connector_is_released(
        charger: Callable[..., Any], store: Any, fakes: Any) -> None:
    cp = charger(version="2.0.1")
    events = [cp.status201(1, "Occupied", connector_id=1),
              cp.status201(1, "Occupied", connector_id=2),
              cp.status201(1, "Available", connector_id=1)]
    assert connectors(deliver(store, fakes, events), cp.station_id)[1][0] is IN_USE
    released = cp.status201(1, "Available", connector_id=2)
    shown = connectors(deliver(store, fakes, [released]), cp.station_id)[1]
    assert (shown[0], shown[4]) == (A, when(released))


def test_a_boot_resets_every_connector_of_an_evse(charger: Callable[..., Any],
                                                  fakes: Any) -> None:
    cp = charger(version="2.0.1")
    events = [cp.status201(1, "Occupied", connector_id=1),
              cp.status201(1, "Faulted", connector_id=2)]
    cp.reconnect()
    events.append(cp.boot201())
    events.append(cp.status201(1, "Unavailable", connector_id=2))
    shown = connectors(deliver(fakes.MemoryStore(), fakes, events), cp.station_id)[1]
    assert shown[:2] == (U, "Unavailable")  # connector 1's Occupied ended with the boot


# -- every rule at once, any order -----------------------------------------------------------------
@st.composite
def mixed_day(draw: Any, cp: Any, evse_connectors: tuple[int, ...] = (1,)
              ) -> list[dict[str, Any]]:
    """Boots, reports (some in the same second, some a second behind a boot, 2.0.1 on the
    given connectors of each EVSE) and charges with or without reports around them."""
    events = [cp.boot201() if cp.version == "2.0.1" else cp.boot()]
    for n in range(draw(st.integers(2, 10))):
        kind = draw(st.sampled_from(["status", "status", "charge", "reboot", "same-second"]))
        evse = draw(st.sampled_from([1, 2]))
        raw = draw(st.sampled_from(["Available", "Occupied", "Faulted", "Unavailable",
                                    "Reserved"] if cp.version == "2.0.1" else
                                   ["Available", "Preparing", "Charging", "Finishing",
                                    "Faulted", "Unavailable", "Reserved"]))
        if kind in ("status", "same-second"):
            at = cp.now if kind == "same-second" else None
            events.append(cp.status201(evse, raw, at=at, connector_id=draw(st.sampled_from(
                evse_connectors))) if cp.version == "2.0.1" else cp.status(evse, raw, at=at))
        elif kind == "charge":
            if cp.version == "2.0.1":
                events += [cp.transaction201("Started", f"t{n}", evse, 0.0, id_token=f"T{n}"),
                           cp.transaction201("Ended", f"t{n}", evse, 10.0)]
            else:
                events += [cp.start(evse, n, 0, f"T{n}"), cp.stop(n, 10)]
        else:
            cp.reconnect()
            events.append(cp.boot201() if cp.version == "2.0.1" else cp.boot())
            if draw(st.booleans()):
                behind = cp.now.replace(microsecond=0) - timedelta(seconds=1)
                events.append(cp.status201(evse, raw, at=behind) if cp.version == "2.0.1"
                              else cp.status(evse, raw, at=behind))
    return events


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_any_delivery_order_gives_the_in_order_connectors(
        charger: Callable[..., Any], fakes: Any, version: str) -> None:
    @PROPERTY
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        cp = charger(version=version)
        events = data.draw(mixed_day(cp))
        in_order = connectors(deliver(fakes.MemoryStore(), fakes, events), cp.station_id)
        seed = data.draw(st.integers(0, 2**32 - 1))
        assert connectors(deliver(fakes.MemoryStore(), fakes, shuffled(events, seed)),
                          cp.station_id) == in_order

    check()


def test_any_delivery_order_gives_the_in_order_evse_with_several_connectors(
        charger: Callable[..., Any], fakes: Any) -> None:
    """Every shown field but `last_used_at`: a report arriving late for one connector may show
    that the EVSE never left "in use" when another connector was released; the release time
    seen first is kept (the windowed history cannot tell)."""
    @PROPERTY
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        cp = charger(version="2.0.1")
        events = data.draw(mixed_day(cp, (1, 2)))
        in_order = connectors(deliver(fakes.MemoryStore(), fakes, events), cp.station_id)
        seed = data.draw(st.integers(0, 2**32 - 1))
        actual = connectors(deliver(fakes.MemoryStore(), fakes, shuffled(events, seed)),
                            cp.station_id)
        assert {c: v[:4] + v[5:] for c, v in actual.items()} == {
            c: v[:4] + v[5:] for c, v in in_order.items()}

    check()


def random_facts(rng: random.Random, count: int,
                 base: datetime = T0) -> list[tuple[str, Any]]:
    facts: list[tuple[str, Any]] = []
    for _ in range(count):
        at = base + timedelta(seconds=rng.randrange(60), microseconds=rng.choice([0, 500]))
        kind = rng.random()
        if kind < 0.15:
            facts.append(("boot", (at, rng.choice(["c1", "c2", None]))))
        elif kind < 0.3:
            status = rng.choice([IN_USE, A])
            facts.append(("report", StatusReport(at, status, source=FactSource.CHARGE)))
        else:
            status = rng.choice([A, IN_USE, F, U, R])
            facts.append(("report", StatusReport(
                at, status, status.value, received_at=at + timedelta(seconds=rng.randrange(3)),
                connection_id=rng.choice(["c1", "c2"]),
                evse_connector_id=rng.choice([None, 1, 2]) if kind < 0.8 else None)))
    return facts


def apply(station: Station, facts: list[tuple[str, Any]]) -> None:
    for kind, fact in facts:
        if kind == "boot":
            station.booted(fact[0], BootInfo(), fact[1])
        else:
            station.report_status(1, fact)


def test_the_history_window_gives_what_the_whole_history_gives() -> None:
    """A repository loads a connector's row and only its facts from `history_horizon` on: newer
    facts applied to that must derive what they derive on the whole history. (A fact older
    than those stored may need more history than the window holds: the property tests above
    cover any order on the whole history.)"""
    rng = random.Random(7)
    checked = 0
    for _ in range(3000):
        earlier = random_facts(rng, rng.randrange(1, 10))
        full = Station("CP")
        apply(full, earlier)
        connector = full.connectors.get(1)
        if connector is None:
            continue
        later = random_facts(rng, 3, max([r.at for r in connector.reports] + list(full.boots)))
        loaded = Station("CP", boots=dict(full.boots))
        loaded.connectors[1] = replace(connector, reports=[
            r for r in connector.reports if r.at >= (connector.history_horizon or r.at)],
            new_reports=[])
        apply(full, later)
        apply(loaded, later)
        shown = [(c.status, c.raw_status, c.status_at, c.last_used_at, c.last_available_at)
                 for c in (full.connectors[1], loaded.connectors[1])]
        assert shown[0] == shown[1], (earlier, later)
        checked += 1
    assert checked > 2000


def evse_connectors(store: Any, station_id: str) -> dict[int, tuple]:
    """What the API shows of each EVSE's connectors."""
    return {cid: c.evse_connectors
            for cid, c in sorted(store.stations[station_id].connectors.items())}


def test_each_connector_of_an_evse_keeps_its_latest_report_until_a_boot(
        charger: Callable[..., Any], fakes: Any) -> None:
    cp = charger(version="2.0.1")
    events = [cp.boot201(), cp.status201(1, "Occupied", connector_id=1),
              cp.status201(1, "Faulted", connector_id=2),
              cp.status201(1, "Available", connector_id=2)]
    shown = evse_connectors(deliver(fakes.MemoryStore(), fakes, events), cp.station_id)[1]
    assert [(c.connector_id, c.status, c.raw_status, c.at) for c in shown] == [
        (1, IN_USE, "Occupied", when(events[1])), (2, A, "Available", when(events[3]))]
    cp.reconnect()
    events.append(cp.boot201())
    assert evse_connectors(deliver(fakes.MemoryStore(), fakes, events), cp.station_id)[1] == ()


def test_any_delivery_order_gives_the_in_order_connectors_of_each_evse(
        charger: Callable[..., Any], fakes: Any) -> None:
    @PROPERTY
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        cp = charger(version="2.0.1")
        events = data.draw(mixed_day(cp, (1, 2)))
        in_order = evse_connectors(deliver(fakes.MemoryStore(), fakes, events), cp.station_id)
        seed = data.draw(st.integers(0, 2**32 - 1))
        assert evse_connectors(deliver(fakes.MemoryStore(), fakes, shuffled(events, seed)),
                               cp.station_id) == in_order

    check()
