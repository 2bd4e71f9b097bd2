"""A freshly connected station on a managed site (issue 16): its events reach the load context
on a queue of its own, while save-server's worker records the station from the same events
on another. Whatever the order, the station is managed at once: counted at its maximum until
its charge has an allocation (never less), its TxProfile sent in the round its transaction
becomes known, and `GET /sites/{id}/power` says what is true."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from save_server.domain.business_events import BusinessEvent
from save_server.domain.load.live import ChargeChanged, CurrentMeasured, StationSeen
from save_server.domain.load.model import ElectricalModel
from save_server.domain.load.ports import ProfileSender
from save_server.domain.station_commands import (
    CommandAnswer,
    CommandBus,
    CommandLog,
    CommandOutcome,
    CommandRecord,
    CommandRequest,
)
from save_server.infrastructure.load.context import CommandProfileSender
from save_server.infrastructure.load.memory import MemoryLoadStore
from save_server.infrastructure.load.observations import observations
from save_server.service.load_allocation import LoadAllocation, Settings
from save_server.service.station_commands import StationCommands

from ..charge_fakes import NoCharges
from ..load_sites import T0, three_phase_site


def crowded_site() -> ElectricalModel:
    """Two 32 A chargers on 63 A (59.85 usable): the failsafe share is 29.9 A; while CP1 is
    offline (counted at its 32 A) a charge on CP0 gets 27.8 A, which needs its TxProfile."""
    return three_phase_site(63.0, 2)


def event(kind: str, payload: dict[str, Any], response: dict[str, Any] | None = None,
          station: str = "CP0", version: str = "1.6") -> dict[str, Any]:
    return {"type": f"ocpp-events.{kind}", "charging_station_id": station, "payload": payload,
            "response": response, "ocpp_version": version, "connection_id": f"c-{station}"}


CONNECT = event("connect", {})
BOOT = event("boot-notification", {"chargePointVendor": "V", "chargePointModel": "M"},
             {"status": "Accepted"})
CHARGING = event("status-notification", {"connectorId": 1, "status": "Charging",
                                         "errorCode": "NoError"})
START = event("start-transaction", {"connectorId": 1, "idTag": "TAG", "meterStart": 0},
              {"transactionId": 4242, "idTagInfo": {"status": "Accepted"}})


class Gateway(CommandBus):
    """Holds every station's connection and accepts every profile."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def send(self, request: CommandRequest) -> CommandAnswer:
        self.sent.append((request.station_id, request.parameters))
        return CommandAnswer(CommandOutcome.ACCEPTED, {"status": "Accepted"})


class WorkerBehind(CommandLog):
    """save-server's tables before its worker applied the station's first event: no
    `stations` row yet (a station registered at the site, connecting for the first time)."""

    def __init__(self) -> None:
        self.records: list[CommandRecord] = []

    def station_known(self, station_id: str) -> bool:
        return False

    def add(self, record: CommandRecord) -> None:
        self.records.append(record)

    def list(self, station_id: str, limit: int) -> list[CommandRecord]:
        return [r for r in self.records if r.station_id == station_id][:limit]




def feed(allocation: LoadAllocation, *events: dict[str, Any]) -> None:
    for one in events:
        for seen in observations(one):
            allocation.observe(seen)


def row(allocation: LoadAllocation, model: ElectricalModel, station: str = "CP0"
        ) -> dict[str, Any]:
    return next(c for c in allocation.power(model)["connectors"]
                if c["charging_station_id"] == station)


def test_a_station_the_worker_has_not_recorded_yet_gets_its_failsafe_and_tx_profile() -> None:
    """The load context sends the failsafe on the connection event; save-server's worker may
    not have written the station's row yet. That is no refusal: the station is registered at
    the site (the model checks it) and the gateway holds its connection."""
    model, gateway = crowded_site(), Gateway()
    commands = StationCommands(NoCharges(), gateway, WorkerBehind(), default_timeout=5.0)
    allocation = LoadAllocation(MemoryLoadStore(model), CommandProfileSender(commands),
                                lambda: T0, Settings())
    allocation.leading.set()
    feed(allocation, CONNECT, BOOT, START, CHARGING)
    asyncio.run(allocation.run_once())
    purposes = [(p["purpose"], p.get("transaction_id")) for _, p in gateway.sent]
    assert ("TxDefaultProfile", None) in purposes
    assert ("TxProfile", "4242") in purposes
    shown = row(allocation, model)
    assert shown["failsafe"] == {"limit_a": 29.9, "result": "accepted"}
    assert (shown["state"], shown["allocation_a"], shown["counted_a"]) == ("charging", 27.8,
                                                                           None)


class Sender(ProfileSender):
    """Accepts; the first `failing` profiles of a station answer `failure`."""

    def __init__(self, failing: dict[str, int] | None = None,
                 failure: str = "not_connected") -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.failing, self.failure = dict(failing or {}), failure

    async def send(self, station_id: str, parameters: dict[str, Any]) -> str:
        self.sent.append((station_id, parameters))
        if self.failing.get(station_id, 0) > 0:
            self.failing[station_id] -= 1
            return self.failure
        return "accepted"


def managed(sender: ProfileSender) -> tuple[ElectricalModel, LoadAllocation]:
    model = crowded_site()
    allocation = LoadAllocation(MemoryLoadStore(model), sender, lambda: T0, Settings())
    allocation.leading.set()  # this process manages load: `power` is its live view
    return model, allocation


def test_a_failsafe_that_did_not_reach_an_online_station_is_sent_again_next_round() -> None:
    """A broker hiccup, or the gateway not holding the connection yet: meanwhile the station
    counts at its maximum (never less); it does not stay so until its next connection."""
    sender = Sender({"CP0": 1})
    model, allocation = managed(sender)
    feed(allocation, CONNECT, START)
    asyncio.run(allocation.run_once())
    shown = row(allocation, model)
    assert (shown["state"], shown["allocation_a"], shown["counted_a"]) == ("uncontrolled",
                                                                           None, 32.0)
    assert shown["failsafe"] == {"limit_a": 29.9, "result": "not_connected"}
    asyncio.run(allocation.run_once())  # the next round, whatever wakes it
    shown = row(allocation, model)
    assert shown["failsafe"] == {"limit_a": 29.9, "result": "accepted"}
    assert (shown["state"], shown["allocation_a"], shown["counted_a"]) == ("charging", 27.8,
                                                                           None)
    assert [(p["purpose"], p["max_current_a"]) for s, p in sender.sent
            if s == "CP0" and p["purpose"] != "ChargePointMaxProfile"] == [
        ("TxDefaultProfile", 29.9), ("TxDefaultProfile", 29.9), ("TxProfile", 27.8)]


def test_a_failsafe_refused_by_the_station_is_not_sent_again_before_its_next_boot() -> None:
    sender = Sender()
    model, allocation = managed(sender)
    original = sender.send

    async def refusing(station_id: str, parameters: dict[str, Any]) -> str:
        outcome = await original(station_id, parameters)
        return "rejected" if parameters["purpose"] == "TxDefaultProfile" else outcome

    sender.send = refusing  # type: ignore[method-assign]
    feed(allocation, CONNECT)
    asyncio.run(allocation.run_once())
    asyncio.run(allocation.run_once())
    assert [p["purpose"] for _, p in sender.sent].count("TxDefaultProfile") == 1
    assert row(allocation, model)["state"] == "uncontrolled"


def test_a_charge_seen_before_its_transaction_counts_at_its_maximum_until_it_is_known() -> None:
    """1.6 StatusNotification Charging before StartTransaction (some stations start a charge
    so): no TxProfile can name the charge yet, so it counts at its maximum, shown `starting`;
    the round after StartTransaction sends its TxProfile."""
    sender = Sender()
    model, allocation = managed(sender)
    feed(allocation, CONNECT, BOOT, CHARGING)
    asyncio.run(allocation.run_once())
    shown = row(allocation, model)
    assert (shown["state"], shown["allocation_a"], shown["counted_a"]) == ("starting", None,
                                                                           32.0)
    assert not [p for _, p in sender.sent if p["purpose"] == "TxProfile"]
    feed(allocation, START)
    asyncio.run(allocation.run_once())
    shown = row(allocation, model)
    assert (shown["state"], shown["allocation_a"], shown["counted_a"]) == ("charging", 27.8,
                                                                           None)
    assert [(p["transaction_id"], p["max_current_a"]) for _, p in sender.sent
            if p["purpose"] == "TxProfile"] == [("4242", 27.8)]


def test_before_the_first_round_after_a_connection_the_state_is_the_stations() -> None:
    """The allocation in force was computed while the station was offline (counted at its
    maximum): until the next round it still counts so, but the station is online and idle,
    not `uncontrolled` (no profile was refused)."""
    sender = Sender()
    model, allocation = managed(sender)
    asyncio.run(allocation.run_once())
    allocation.site_changed("site")
    asyncio.run(allocation.run_once())
    assert row(allocation, model)["state"] == "offline"
    feed(allocation, CONNECT)
    shown = row(allocation, model)
    assert (shown["state"], shown["counted_a"]) == ("idle", 32.0)
    feed(allocation, START)
    assert row(allocation, model)["state"] == "charging"
    asyncio.run(allocation.run_once())
    shown = row(allocation, model)
    assert (shown["state"], shown["allocation_a"], shown["counted_a"]) == ("charging", 27.8,
                                                                           None)


def test_stations_seen_only_online_are_never_counted_below_their_maximum_uncontrolled(
        ) -> None:
    """Every order of a fresh station's events: at every round, a charging connector is either
    allocated (its TxProfile accepted, or its failsafe accepted as its working limit) or counted
    at its maximum; the sum on the site never exceeds its usable limit."""
    orders = [(CONNECT, BOOT, CHARGING, START), (CONNECT, CHARGING, BOOT, START),
              (CONNECT, START, CHARGING, BOOT), (CHARGING, CONNECT, START, BOOT)]
    for order in orders:
        sender = Sender({"CP0": 1})
        model, allocation = managed(sender)
        for one in order:
            feed(allocation, one)
            asyncio.run(allocation.run_once())
            power = allocation.power(model)
            assert sum((c["allocation_a"] or 0.0) + (c["counted_a"] or 0.0)
                       for c in power["connectors"]) <= power["usable_a"] or \
                power["overloaded"], (order, power)
            shown = row(allocation, model)
            if shown["state"] in ("starting", "uncontrolled", "offline"):
                assert shown["counted_a"] == 32.0, (order, shown)
            elif shown["state"] == "charging":
                assert shown["allocation_a"] is not None, (order, shown)
        asyncio.run(allocation.run_once())
        shown = row(allocation, model)
        assert (shown["state"], shown["allocation_a"]) == ("charging", 27.8), (order, shown)
        assert any(p["purpose"] == "TxProfile" and p["transaction_id"] == "4242"
                   for _, p in sender.sent), order


def test_a_model_set_before_the_stations_connect_sends_them_nothing_until_they_do() -> None:
    """An operator describes the site, then its stations connect: a failsafe sent to an
    offline station could only fail (`not_connected`), and made it `uncontrolled` once online
    until the failsafe of its connection was answered."""
    sender = Sender()
    _, allocation = managed(sender)
    allocation.site_changed("site")
    asyncio.run(allocation.run_once())
    assert sender.sent == []
    feed(allocation, CONNECT)
    asyncio.run(allocation.run_once())
    assert [(s, p["purpose"]) for s, p in sender.sent][:1] == [("CP0", "TxDefaultProfile")]
    assert {s for s, _ in sender.sent} == {"CP0"}
    allocation.site_changed("site")  # the model changes while CP0 is online: it is sent again
    sender.sent.clear()
    asyncio.run(allocation.run_once())
    assert [(s, p["purpose"]) for s, p in sender.sent][:1] == [("CP0", "TxDefaultProfile")]


def test_a_new_connection_forgets_a_failsafe_that_failed_before() -> None:
    """Refused, or not delivered while the station went away: its next connection sends the
    failsafe again, and until that answer the station is what it is (idle, charging), not
    `uncontrolled` — counted at its maximum by the allocation in force until the round."""
    sender = Sender({"CP0": 1})
    model, allocation = managed(sender)
    feed(allocation, CONNECT)
    feed(allocation, event("disconnect", {}))  # gone before the failsafe was sent
    asyncio.run(allocation.run_once())
    shown = row(allocation, model)
    assert (shown["state"], shown["failsafe"]["result"]) == ("offline", "not_connected")
    feed(allocation, CONNECT)
    shown = row(allocation, model)
    assert (shown["state"], shown["counted_a"], shown["failsafe"]) == ("idle", 32.0, None)
    asyncio.run(allocation.run_once())
    assert row(allocation, model)["failsafe"] == {"limit_a": 29.9, "result": "accepted"}


def test_stations_online_before_their_site_is_described_are_managed_from_the_tables() -> None:
    """The context ignores the events of stations no model names; a model that adds them
    later takes their connection and running charge from save-server's tables, as after a
    restart — else they would show `offline`, counted at their maximum, until they reconnect."""
    sender, model = Sender(), crowded_site()
    store = MemoryLoadStore()
    tables = [StationSeen("CP0", True, booted=True), ChargeChanged("CP0", 1, True, "4242")]
    allocation = LoadAllocation(store, sender, lambda: T0, Settings(), seed=lambda only: tables)
    allocation.leading.set()
    feed(allocation, CONNECT, START)  # not managed yet: ignored
    store.save_model(model, BusinessEvent("load-management.electrical-model-set", {}, "op",
                                          event_id="m1", occurred_at=T0))
    allocation.site_changed("site")
    asyncio.run(allocation.run_once())
    shown = row(allocation, model)
    assert shown["failsafe"] == {"limit_a": 29.9, "result": "accepted"}
    assert (shown["state"], shown["allocation_a"]) == ("charging", 27.8)
    assert [(p["transaction_id"], p["max_current_a"]) for _, p in sender.sent
            if p["purpose"] == "TxProfile"] == [("4242", 27.8)]


def test_a_connection_seen_live_before_the_tables_are_read_is_not_undone_by_them() -> None:
    sender, model = Sender(), crowded_site()
    store = MemoryLoadStore()
    tables = [StationSeen("CP0", False)]  # save-server's worker has not applied it yet
    allocation = LoadAllocation(store, sender, lambda: T0, Settings(), seed=lambda only: tables)
    allocation.leading.set()
    store.save_model(model, BusinessEvent("load-management.electrical-model-set", {}, "op",
                                          event_id="m1", occurred_at=T0))
    allocation.site_changed("site")
    feed(allocation, CONNECT)  # managed now: its connection event counts
    asyncio.run(allocation.run_once())
    shown = row(allocation, model)
    assert (shown["state"], shown["failsafe"]) == ("idle", {"limit_a": 29.9,
                                                            "result": "accepted"})


async def run_until(allocation: LoadAllocation, store: MemoryLoadStore, model: ElectricalModel,
                    ready: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The running task, CP0 connected and charging, until CP0's row is `ready`: that row.
    CP0 connects once the start round (every site, no station yet) has drawn its power: had it
    connected during that round, the round could send it a TxProfile before its failsafe, and
    that one would take a `not_connected` meant for the failsafe."""
    stop = asyncio.Event()
    task = asyncio.create_task(allocation.run(stop))
    while store.power(model.site_id) is None:
        await asyncio.sleep(0.01)
    feed(allocation, CONNECT, START)
    for _ in range(500):  # a liveness bound, not a speed requirement
        shown = row(allocation, model)
        if ready(shown):
            break
        await asyncio.sleep(0.01)
    stop.set()
    task.cancel()  # as LoadContext.stop does: the task may be waiting for work
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return shown


def test_a_failsafe_not_delivered_is_tried_again_without_waiting_for_another_event() -> None:
    """In services mode the gateway binds a station's command routing after publishing its
    connection event: a failsafe sent at once may find no route (`not_connected`). The
    running task tries again shortly, not at the next event or sweep (an hour here)."""
    sender = Sender({"CP0": 2})
    model = crowded_site()
    store = MemoryLoadStore(model)
    allocation = LoadAllocation(store, sender, lambda: T0,
                                Settings(min_interval=timedelta(hours=1)))
    shown = asyncio.run(run_until(allocation, store, model, lambda shown: shown["failsafe"] == {
        "limit_a": 29.9, "result": "accepted"} and shown["allocation_a"] is not None))
    assert shown["failsafe"] == {"limit_a": 29.9, "result": "accepted"}
    assert (shown["state"], shown["allocation_a"]) == ("charging", 27.8)


def test_a_failsafe_not_answered_is_tried_again_as_one_not_delivered() -> None:
    """The same retry: a station that did not answer its failsafe in time gets it again
    shortly, not at the next sweep or increase interval (an hour here)."""
    sender = Sender({"CP0": 1}, failure="timeout")
    model = crowded_site()
    store = MemoryLoadStore(model)
    allocation = LoadAllocation(store, sender, lambda: T0, Settings(
        min_interval=timedelta(hours=1), sweep=timedelta(hours=1)))
    shown = asyncio.run(run_until(allocation, store, model, lambda shown: shown["failsafe"] == {
        "limit_a": 29.9, "result": "accepted"}))
    assert shown["failsafe"] == {"limit_a": 29.9, "result": "accepted"}
    assert [p["purpose"] for s, p in sender.sent].count("TxDefaultProfile") == 2


def test_a_failsafe_that_keeps_failing_is_retried_after_a_backoff_not_at_every_event() -> None:
    """Events keep waking the task (a meter value every 10 ms); a station that never gets
    its failsafe is tried again after 0.25 s, then 0.5 s more: not at each of them."""
    sender = Sender({"CP0": 1000})
    model = crowded_site()
    allocation = LoadAllocation(MemoryLoadStore(model), sender, lambda: T0,
                                Settings(min_interval=timedelta(hours=1)))

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(allocation.run(stop))
        while not allocation.leading.is_set():
            await asyncio.sleep(0.01)
        feed(allocation, CONNECT, START)
        for _ in range(60):
            allocation.observe(CurrentMeasured("CP0", 1, 6.0, T0))
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, timeout=10)

    asyncio.run(scenario())
    failsafes = [p["purpose"] for _, p in sender.sent].count("TxDefaultProfile")
    assert 1 <= failsafes <= 3, failsafes  # at 0, 0.25 and 0.75 s at the most


def base_cap_lost_once() -> Sender:
    """Accepts everything but CP0's first base cap (station max profile, stack level 0),
    answered `not_connected` as a broker hiccup is."""
    sender = Sender()
    original, failing = sender.send, {"base cap": 1}

    async def hiccup(station_id: str, parameters: dict[str, Any]) -> str:
        if parameters["purpose"] == "ChargePointMaxProfile" and parameters["stack_level"] == 0 \
                and station_id == "CP0" and failing["base cap"]:
            failing["base cap"] -= 1
            sender.sent.append((station_id, parameters))
            return "not_connected"
        return await original(station_id, parameters)

    sender.send = hiccup  # type: ignore[method-assign]
    return sender


def test_a_base_cap_that_did_not_reach_an_online_station_is_sent_again_next_round() -> None:
    """The failsafe got through, the permanent station max profile right after it did not (a
    broker hiccup answers `not_connected` too): it is sent again at the next round, as an
    unanswered one is, not only at the station's next connection."""
    sender = base_cap_lost_once()
    model, allocation = managed(sender)
    feed(allocation, CONNECT)
    asyncio.run(allocation.run_once())
    assert row(allocation, model)["station_max"]["result"] == "not_connected"
    asyncio.run(allocation.run_once())  # the next round, whatever wakes it
    assert row(allocation, model)["station_max"] == {"limit_a": 29.9, "result": "accepted"}
    base_caps = [p for s, p in sender.sent if s == "CP0"
                 and p["purpose"] == "ChargePointMaxProfile" and p["stack_level"] == 0]
    assert len(base_caps) == 2


def test_a_base_cap_accepted_on_its_retry_gets_its_leased_cap_in_the_same_round() -> None:
    """The leased cap (stack level 1) is what lets the station draw above its base cap; one
    whose base cap got through only on a retry must not wait for the next event or sweep."""
    sender = base_cap_lost_once()
    _, allocation = managed(sender)
    feed(allocation, CONNECT)
    asyncio.run(allocation.run_once())
    leased = [p for s, p in sender.sent if s == "CP0" and p["stack_level"] == 1]
    assert leased == []
    asyncio.run(allocation.run_once())  # the retry round: no other event came
    leased = [p for s, p in sender.sent if s == "CP0" and p["stack_level"] == 1]
    assert [(p["purpose"], p["profile_id"]) for p in leased] == [("ChargePointMaxProfile", 902)]
