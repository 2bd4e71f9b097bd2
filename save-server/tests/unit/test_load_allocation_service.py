"""The allocation service with fakes: charger events in, profiles out — decreases answered
before any increase, refused profiles counted at the maximum, the failsafe on connect,
allocations published as events."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from save_server.domain.load.allocator import BuildingLoad
from save_server.domain.load.failsafe import (
    failsafe_within_allocation,
    safe_shares,
    station_default,
)
from save_server.domain.load.live import (
    ChargeChanged,
    CurrentMeasured,
    PowerMeasured,
    StationLive,
    StationSeen,
)
from save_server.domain.load.model import ConnectorSupply, ElectricalModel, Supply
from save_server.domain.load.ports import Lease, ProfileSender
from save_server.infrastructure.load.memory import MemoryLoadStore
from save_server.infrastructure.load.observations import observations
from save_server.service.load_allocation import LoadAllocation, Settings

from ..load_sites import ALL, T0, three_phase_site


class Sender(ProfileSender):
    """Answers from `outcomes` (default accepted); a gate holds the answers of decreases."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.outcomes: dict[str, str] = {}
        self.first: dict[tuple[str, str], str] = {}  # (station, purpose): its first answer
        self.gate: asyncio.Event | None = None

    async def send(self, station_id: str, parameters: dict[str, Any]) -> str:
        self.sent.append((station_id, parameters))
        if self.gate is not None:
            await self.gate.wait()
        first = self.first.pop((station_id, parameters["purpose"]), None)
        return first or self.outcomes.get(station_id, "accepted")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def service(model: ElectricalModel) -> tuple[LoadAllocation, MemoryLoadStore, Sender, Clock]:
    store, sender, clock = MemoryLoadStore(model), Sender(), Clock()
    return LoadAllocation(store, sender, clock, Settings()), store, sender, clock


def connect_and_charge(allocation: LoadAllocation, *stations: str) -> None:
    for i, station in enumerate(stations):
        allocation.observe(StationSeen(station, True, f"c-{station}", "1.6", booted=True))
        allocation.observe(ChargeChanged(station, 1, True, str(100 + i)))


def tx_profiles(sender: Sender) -> list[tuple[str, float]]:
    return [(s, p["max_current_a"]) for s, p in sender.sent if p["purpose"] == "TxProfile"]


def test_connecting_stations_get_their_failsafe_and_charges_their_share() -> None:
    model = three_phase_site(32.0, 2)
    allocation, store, sender, _ = service(model)
    connect_and_charge(allocation, "CP0", "CP1")
    asyncio.run(allocation.run_once())
    defaults = [(s, p) for s, p in sender.sent if p["purpose"] == "TxDefaultProfile"]
    assert [(s, p["max_current_a"], p["connector_id"]) for s, p in defaults] == [
        ("CP0", 15.2, 0), ("CP1", 15.2, 0)]  # 30.4 A / 2, on connector 0 = all connectors
    assert tx_profiles(sender) == []  # the share equals the accepted default: nothing to send
    published = [e for e in store.events if e.type == "load-management.allocation"]
    assert len(published) == 1
    assert [c["limit_a"] for c in published[0].payload["connectors"]] == [15.2, 15.2]


def test_decreases_are_answered_before_any_increase_is_sent() -> None:
    model = three_phase_site(32.0, 3)
    allocation, _, sender, clock = service(model)
    allocation.observe(StationSeen("CP2", True, "c-CP2", "2.0.1", booted=True))  # idle
    connect_and_charge(allocation, "CP0", "CP1")  # from the default 10.1 A up to 15.2
    asyncio.run(allocation.run_once())
    assert sorted(tx_profiles(sender)) == [("CP0", 15.2), ("CP1", 15.2)]
    sender.sent.clear()
    for seconds in (0, 61):  # CP1's car takes 6 A of its 15.2: CP1 down, CP0 up
        allocation.observe(CurrentMeasured("CP1", 1, 6.0, T0 + timedelta(seconds=seconds)))
    clock.now += timedelta(minutes=2)

    async def scenario() -> list[tuple[str, float]]:
        sender.gate = asyncio.Event()
        round_ = asyncio.create_task(allocation.run_once())
        while not sender.sent and not round_.done():  # the round reaches its first send
            await asyncio.sleep(0.001)
        for _ in range(50):  # anything else it would send without an answer, it sends now
            await asyncio.sleep(0)
        before_answers = tx_profiles(sender)
        sender.gate.set()
        await round_
        return before_answers

    assert asyncio.run(scenario()) == [("CP1", 7.0)]
    assert tx_profiles(sender) == [("CP1", 7.0), ("CP0", 23.4)]


def test_a_station_that_rejects_profiles_is_counted_at_its_maximum() -> None:
    model = three_phase_site(63.0, 2)
    allocation, store, sender, _ = service(model)
    sender.outcomes["CP1"] = "rejected"
    connect_and_charge(allocation, "CP0", "CP1")
    asyncio.run(allocation.run_once())
    asyncio.run(allocation.run_once())  # the refusal made the site dirty again
    last = [e for e in store.events if e.type == "load-management.allocation"][-1].payload
    by_station = {c["charging_station_id"]: c for c in last["connectors"]}
    assert by_station["CP1"]["reserved_a"] == 32.0
    assert by_station["CP0"]["limit_a"] == 27.8  # 59.85 - 32
    power = allocation.power(model)
    states = {c["charging_station_id"]: c["state"] for c in power["connectors"]}
    assert states == {"CP0": "charging", "CP1": "uncontrolled"}
    assert power["stations_never_accepting_profiles"] == ["CP1"]


def test_an_offline_station_is_counted_at_its_maximum_and_its_reconnect_at_the_new_share(
        ) -> None:
    model = three_phase_site(63.0, 2)
    allocation, store, _, _ = service(model)
    connect_and_charge(allocation, "CP0", "CP1")
    asyncio.run(allocation.run_once())
    allocation.observe(StationSeen("CP1", False, "c-CP1"))
    asyncio.run(allocation.run_once())
    last = [e for e in store.events if e.type == "load-management.allocation"][-1].payload
    assert [c["reserved_a"] for c in last["connectors"]] == [None, 32.0]
    allocation.observe(StationSeen("CP1", False, "an-older-connection"))  # ignored
    allocation.observe(StationSeen("CP1", True, "c-CP1-2", booted=True))
    asyncio.run(allocation.run_once())
    last = [e for e in store.events if e.type == "load-management.allocation"][-1].payload
    assert [c["limit_a"] for c in last["connectors"]] == [29.9, 29.9]


def test_increases_of_one_connector_are_rate_limited_decreases_are_not() -> None:
    model = three_phase_site(63.0, 2)
    allocation, _, sender, clock = service(model)
    connect_and_charge(allocation, "CP0", "CP1")
    asyncio.run(allocation.run_once())
    allocation.observe(ChargeChanged("CP1", 1, False, "101"))  # CP1's charge ends
    asyncio.run(allocation.run_once())
    assert tx_profiles(sender)[-1] == ("CP0", 32.0)
    allocation.observe(ChargeChanged("CP1", 1, True, "102"))  # and another starts
    clock.now += timedelta(seconds=5)
    asyncio.run(allocation.run_once())
    # a decrease at once, 5 s after CP0's last profile; CP1 starts at its default 29.9 A
    assert tx_profiles(sender)[-2:] == [("CP0", 32.0), ("CP0", 29.9)]
    allocation.observe(ChargeChanged("CP1", 1, False, "102"))
    clock.now += timedelta(seconds=5)
    sent = len(tx_profiles(sender))
    asyncio.run(allocation.run_once())
    assert len(tx_profiles(sender)) == sent  # CP0's increase waits 30 s after its last one
    clock.now += timedelta(seconds=30)
    asyncio.run(allocation.run_once())
    assert tx_profiles(sender)[-1] == ("CP0", 32.0)


def test_a_car_taking_less_than_given_leaves_the_rest_and_gets_it_back_when_ramping() -> None:
    model = three_phase_site(32.0, 2)
    allocation, _, sender, clock = service(model)
    connect_and_charge(allocation, "CP0", "CP1")
    asyncio.run(allocation.run_once())
    for seconds in (0, 30, 61):
        allocation.observe(CurrentMeasured("CP1", 1, 6.0, T0 + timedelta(seconds=seconds)))
    clock.now += timedelta(minutes=2)
    asyncio.run(allocation.run_once())
    assert ("CP1", 7.0) in tx_profiles(sender) and ("CP0", 23.4) in tx_profiles(sender)
    allocation.observe(CurrentMeasured("CP1", 1, 6.8, T0 + timedelta(seconds=90)))
    clock.now += timedelta(minutes=2)
    asyncio.run(allocation.run_once())
    assert tx_profiles(sender)[-2:] == [("CP0", 15.2), ("CP1", 15.2)]


def test_stations_outside_every_model_are_ignored() -> None:
    allocation, store, sender, _ = service(three_phase_site(32.0, 1))
    connect_and_charge(allocation, "ELSEWHERE")
    asyncio.run(allocation.run_once())
    assert sender.sent == [] and store.events == []


def test_the_failsafe_shares_add_up_to_at_most_every_limit() -> None:
    model = ElectricalModel("s", Supply.THREE_PHASE, 220.0, 63.0, connectors=(
        ConnectorSupply("A", 1, ALL), ConnectorSupply("B", 1, ("L1",)),
        ConnectorSupply("B", 2, ("L2",)), ConnectorSupply("C", 1, ALL, max_a=16.0)))
    shares = safe_shares(model)
    assert shares == {("A", 1): 19.9, ("B", 1): 19.9, ("B", 2): 19.9, ("C", 1): 16.0}
    assert station_default(model, "B") == 19.9
    crowded = three_phase_site(63.0, 12)  # 59.85 / 12 < 6 A: without the platform nobody charges
    assert set(safe_shares(crowded).values()) == {0.0}


def test_ocpp_events_become_observations() -> None:
    def event(kind: str, version: str, payload: dict, response: dict | None = None) -> dict:
        return {"type": f"ocpp-events.{kind}", "charging_station_id": "CP", "payload": payload,
                "response": response, "ocpp_version": version, "connection_id": "c1"}

    assert observations(event("start-transaction", "1.6", {"connectorId": 2},
                              {"transactionId": 77})) == [ChargeChanged("CP", 2, True, "77")]
    assert observations(event("stop-transaction", "1.6", {"transactionId": 77})) == [
        ChargeChanged("CP", None, False, "77")]
    assert observations(event("status-notification", "1.6",
                              {"connectorId": 1, "status": "SuspendedEVSE"})) == [
        ChargeChanged("CP", 1, True)]
    assert observations(event("transaction-event", "2.0.1", {
        "eventType": "Updated", "evse": {"id": 1},
        "transactionInfo": {"transactionId": "t1", "chargingState": "EVConnected"},
        "meterValue": [{"timestamp": "2026-12-05T12:00:00Z", "sampledValue": [
            {"value": 9.5, "measurand": "Current.Import", "phase": "L1"},
            {"value": 10.5, "measurand": "Current.Import", "phase": "L2"}]}]})) == [
        ChargeChanged("CP", 1, False, "t1"),
        CurrentMeasured("CP", 1, 10.5, datetime(2026, 12, 5, 12, tzinfo=UTC),
                        (("L1", 9.5), ("L2", 10.5)))]
    assert observations(event("disconnect", "1.6", {})) == [StationSeen("CP", False, "c1")]
    assert observations(event("meter-values", "1.6", {"connectorId": "x"})) == []  # garbage


def test_a_broken_command_path_counts_as_a_refusal_and_the_round_completes() -> None:
    class Broken(Sender):
        async def send(self, station_id: str, parameters: dict[str, Any]) -> str:
            raise RuntimeError("broker gone")

    model = three_phase_site(63.0, 2)
    store = MemoryLoadStore(model)
    allocation = LoadAllocation(store, Broken(), Clock(), Settings())
    connect_and_charge(allocation, "CP0", "CP1")
    asyncio.run(allocation.run_once())
    asyncio.run(allocation.run_once())
    last = [e for e in store.events if e.type == "load-management.allocation"][-1].payload
    assert [c["reserved_a"] for c in last["connectors"]] == [32.0, 32.0]
    assert len(last["overloaded"]) == 3  # 2 x 32 A > 59.85 A on each phase: reported
    assert allocation.power(model)["available_a"] == {"L1": 0.0, "L2": 0.0, "L3": 0.0}


def test_a_building_meter_station_reports_the_building_load_per_phase() -> None:
    model = replace(three_phase_site(40.0, 1), building_metered=True, building_meter=("METER", 0))
    allocation, store, _, _ = service(model)
    connect_and_charge(allocation, "CP0")
    reading = observations({
        "type": "ocpp-events.meter-values", "charging_station_id": "METER", "payload": {
            "connectorId": 0, "meterValue": [{"timestamp": "2026-12-05T12:00:00Z",
                                              "sampledValue": [
                {"value": "12.5", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
                {"value": "4", "measurand": "Current.Import", "phase": "L2", "unit": "A"},
                {"value": "20", "measurand": "Current.Import", "phase": "L3", "unit": "A"}]}]},
        "ocpp_version": "1.6", "connection_id": "m"})
    for seen in reading:
        allocation.observe(seen)
    assert store.load("site").per_phase == {"L1": 12.5, "L2": 4.0, "L3": 20.0}
    recorded = [e for e in store.events if e.type == "load-management.measurement-recorded"]
    assert recorded[0].principal == "meter METER"
    asyncio.run(allocation.run_once())
    assert allocation.power(model)["connectors"][0]["allocation_a"] == 18.0  # 38 - 20 on L3
    future = CurrentMeasured("METER", 0, 1.0, T0 + timedelta(hours=1), (("L1", 1.0),))
    allocation.observe(future)  # a meter clock an hour ahead: not a building load
    assert store.load("site").per_phase["L1"] == 12.5


class ScriptedLease(Lease):
    """Grants the lease from the `grant_at`-th attempt; `held` answers from `holds`."""

    def __init__(self, grant_at: int, holds: list[bool]) -> None:
        self.attempts, self.grant_at, self.holds = 0, grant_at, holds
        self.released = False

    def try_acquire(self) -> bool:
        self.attempts += 1
        return self.attempts >= self.grant_at

    def held(self) -> bool:
        return self.holds.pop(0) if self.holds else False

    def release(self) -> None:
        self.released = True


def test_without_the_lease_nothing_is_sent_and_a_lost_lease_stops_the_task() -> None:
    model = three_phase_site(32.0, 2)
    lease = ScriptedLease(grant_at=3, holds=[True, False])
    sender = Sender()
    allocation = LoadAllocation(MemoryLoadStore(model), sender, Clock(),
                                Settings(lease_retry_s=0.01, min_interval=timedelta(0)),
                                lease=lease)
    connect_and_charge(allocation, "CP0", "CP1")

    async def scenario() -> list[bool]:
        seen = []
        task = asyncio.create_task(allocation.run(asyncio.Event()))
        while lease.attempts < 2:
            await asyncio.sleep(0.001)
        seen.append(allocation.leading.is_set())  # refused twice: not leading
        await asyncio.wait_for(task, timeout=10)  # granted, one round, then lost
        return seen

    assert asyncio.run(scenario()) == [False]
    assert lease.attempts == 3 and lease.released and not allocation.leading.is_set()
    assert [p["purpose"] for _, p in sender.sent if p["purpose"] != "ChargePointMaxProfile"
            ] == ["TxDefaultProfile"] * 2  # one round


def test_a_replica_without_the_lease_shows_the_managers_view() -> None:
    model = three_phase_site(32.0, 2)
    allocation, store, _, _ = service(model)
    allocation.leading.set()
    connect_and_charge(allocation, "CP0", "CP1")
    asyncio.run(allocation.run_once())
    managed = allocation.power(model)
    assert store.power("site") == managed and managed["connectors"][0]["allocation_a"] == 15.2
    replica = LoadAllocation(store, Sender(), Clock(), Settings())  # no events, no lease
    assert replica.power(model) == managed


def restarted(store: MemoryLoadStore, clock: Clock, *stations: str) -> LoadAllocation:
    """A new load manager on the same store, seeded from the tables like after a restart."""
    seen = [o for i, s in enumerate(stations) for o in (
        StationSeen(s, True, f"c-{s}", "1.6"), ChargeChanged(s, 1, True, str(100 + i)))]
    return LoadAllocation(store, Sender(), clock, Settings(min_interval=timedelta(0)),
                          seed=lambda only: seen)


async def first_rounds(allocation: LoadAllocation, store: MemoryLoadStore, at: str) -> None:
    """Run the manager until it has shown the site at `at`, then stop it."""
    stop = asyncio.Event()
    task = asyncio.create_task(allocation.run(stop))
    while (store.power("site") or {}).get("computed_at") != at:
        await asyncio.sleep(0.001)
    stop.set()
    await asyncio.wait_for(task, timeout=10)


def test_a_restart_mid_rotation_keeps_every_turn_so_the_queue_head_charges_on_time() -> None:
    model = three_phase_site(20.0, 4)  # 19 A usable: three minimums of 6 A fit, the fourth waits
    allocation, store, _, clock = service(model)
    connect_and_charge(allocation, "CP0", "CP1", "CP2", "CP3")
    asyncio.run(allocation.run_once())
    assert store.power("site")["queue"] == [{"charging_station_id": "CP3", "connector_id": 1}]
    turns = [e for e in store.events if e.type == "load-management.allocation"][-1] \
        .payload["turns"]
    assert turns[3] == {"charging_station_id": "CP3", "connector_id": 1, "running": False,
                        "since": "2026-12-05T12:00:00Z"}

    clock.now = T0 + timedelta(minutes=10)  # the API process restarts mid-slot
    again = restarted(store, clock, "CP0", "CP1", "CP2", "CP3")
    asyncio.run(first_rounds(again, store, "2026-12-05T12:10:00Z"))
    view = store.power("site")
    assert view["queue"] == [{"charging_station_id": "CP3", "connector_id": 1}]
    assert [c["rotation"]["since"] for c in view["connectors"]] == [
        "2026-12-05T12:00:00Z"] * 4  # nobody's turn started again

    clock.now = T0 + timedelta(minutes=15)  # one slot after CP3 started waiting
    again = restarted(store, clock, "CP0", "CP1", "CP2", "CP3")
    asyncio.run(first_rounds(again, store, "2026-12-05T12:15:00Z"))
    view = store.power("site")
    assert {c["charging_station_id"]: c["allocation_a"] for c in view["connectors"]}["CP3"] \
        >= 6.0
    assert len(view["queue"]) == 1 and view["queue"][0]["charging_station_id"] != "CP3"


def meter_values(station: str, version: str, connector: int, *samples: dict) -> dict:
    where = {"connectorId": connector} if version == "1.6" else {"evseId": connector}
    return {"type": "ocpp-events.meter-values", "charging_station_id": station,
            "ocpp_version": version, "connection_id": "c", "payload": {
                **where, "meterValue": [{"timestamp": "2026-12-05T12:00:00Z",
                                         "sampledValue": list(samples)}]}}


def test_active_power_stands_in_for_a_missing_current_per_phase_where_given() -> None:
    at = datetime(2026, 12, 5, 12, tzinfo=UTC)
    phased = observations(meter_values(
        "CP", "1.6", 1, {"value": "2.2", "measurand": "Power.Active.Import", "phase": "L1-N",
                         "unit": "kW"},
        {"value": "1100", "measurand": "Power.Active.Import", "phase": "L2-N", "unit": "W"},
        {"value": "3300", "measurand": "Power.Active.Import"}))  # the total: not a phase
    assert phased == [PowerMeasured("CP", 1, 3300.0, at, (("L1", 2200.0), ("L2", 1100.0)))]
    assert phased[0].as_current(220.0) == CurrentMeasured("CP", 1, 10.0, at,
                                                          (("L1", 10.0), ("L2", 5.0)))
    total = observations(meter_values("CP", "2.0.1", 2, {
        "value": 4.4, "measurand": "Power.Active.Import",
        "unitOfMeasure": {"unit": "W", "multiplier": 3}}))
    assert total == [PowerMeasured("CP", 2, 4400.0, at)]
    assert total[0].as_current(220.0).amps == 20.0  # a total alone: as if on one phase
    both = observations(meter_values(
        "CP", "1.6", 1, {"value": "7", "measurand": "Current.Import", "phase": "L1"},
        {"value": "9999", "measurand": "Power.Active.Import"}))
    assert both == [CurrentMeasured("CP", 1, 7.0, at, (("L1", 7.0),))]  # the current wins


def test_a_reading_that_is_no_finite_number_is_skipped_not_raised() -> None:
    """A station's multiplier of 400 (the schema sets no bound) overflowed, and the load
    queue retried that message for ever; NaN or infinity would reach the allocator."""
    for version, sample in (
            ("2.0.1", {"value": 1.0, "measurand": "Power.Active.Import",
                       "unitOfMeasure": {"unit": "W", "multiplier": 400}}),
            ("1.6", {"value": "nan", "measurand": "Power.Active.Import"}),
            ("1.6", {"value": "inf", "measurand": "Current.Import", "phase": "L1"}),
            ("1.6", {"value": "NaN", "measurand": "Current.Import"})):
        assert observations(meter_values("CP", version, 1, sample)) == [], sample


def test_a_car_reporting_only_power_is_measured_with_the_sites_voltage() -> None:
    model = replace(three_phase_site(63.0, 1), voltage_v=127.0)
    allocation, _, _, _ = service(model)
    allocation.leading.set()
    connect_and_charge(allocation, "CP0")
    asyncio.run(allocation.run_once())
    allocation.observe(PowerMeasured("CP0", 1, 3 * 127.0 * 8.0, T0,
                                     tuple((p, 127.0 * 8.0) for p in ALL)))
    assert allocation.power(model)["connectors"][0]["measured_a"] == 8.0
    allocation.observe(PowerMeasured("ELSEWHERE", 1, 1000.0, T0))  # not managed: ignored


def test_a_building_load_recomputes_only_when_it_moved_by_the_threshold() -> None:
    model = replace(three_phase_site(63.0, 1), building_metered=True)
    allocation, store, _, clock = service(model)
    connect_and_charge(allocation, "CP0")
    asyncio.run(allocation.run_once())

    def measure(seconds: float, **per_phase: float) -> bool:
        load = BuildingLoad(per_phase, T0 + timedelta(seconds=seconds))
        store.apply_load(f"m{seconds}", "site", load)
        allocation.building_measured("site", load)
        return "site" in allocation.take_work()[0]

    assert measure(1, L1=10.0, L2=10.0, L3=10.0)  # the first measurement
    clock.now = T0 + timedelta(seconds=1)
    asyncio.run(allocation.run_once())  # nothing dirty: take_work emptied it
    allocation.site_changed_all(failsafe=False)
    asyncio.run(allocation.run_once())  # the sweep uses the measurement
    assert not measure(2, L1=10.9, L2=9.2, L3=10.0)  # less than 1 A on every phase
    assert measure(3, L1=10.0, L2=11.0, L3=10.0)  # 1 A on L2
    assert measure(301, L1=10.0, L2=10.0, L3=10.0)  # the one used is older than 300 s
    assert measure(4, L1=10.0, L2=10.0)  # a phase no longer reported moved by 10 A


def test_a_charge_gets_its_id_tag_groups_priority_on_the_site() -> None:
    model = replace(three_phase_site(32.0, 2), group_priorities=(("Apto 101", 2),))
    groups = {"TAG-VIP": "Apto 101", "TAG-2": "Apto 202"}
    store, sender, clock = MemoryLoadStore(model), Sender(), Clock()
    allocation = LoadAllocation(store, sender, clock, Settings(), group_of=groups.get)
    allocation.leading.set()
    for station, tag in (("CP0", "TAG-2"), ("CP1", "tag-vip")):
        allocation.observe(StationSeen(station, True, f"c-{station}", "1.6", booted=True))
        allocation.observe(ChargeChanged(station, 1, True, f"t-{station}",
                                         tag.upper() if tag == "tag-vip" else tag))
    asyncio.run(allocation.run_once())
    limits = {c["charging_station_id"]: c["allocation_a"]
              for c in allocation.power(model)["connectors"]}
    assert limits == {"CP0": 6.0, "CP1": 24.4}
    allocation.observe(ChargeChanged("CP1", None, False, "t-CP1"))  # the charge ends
    allocation.observe(ChargeChanged("CP1", 1, True, "t-CP1b", "TAG-2"))
    asyncio.run(allocation.run_once())
    assert [c["allocation_a"] for c in allocation.power(model)["connectors"]] == [15.2, 15.2]


def test_the_id_tag_of_a_charge_is_read_from_16_and_201_events() -> None:
    start = {"type": "ocpp-events.start-transaction", "charging_station_id": "CP",
             "ocpp_version": "1.6", "payload": {"connectorId": 1, "idTag": "ABC"},
             "response": {"transactionId": 5}}
    assert observations(start) == [ChargeChanged("CP", 1, True, "5", "ABC")]
    started = {"type": "ocpp-events.transaction-event", "charging_station_id": "CP",
               "ocpp_version": "2.0.1", "payload": {
                   "eventType": "Started", "evse": {"id": 1}, "idToken": {
                       "idToken": "XYZ", "type": "ISO14443"},
                   "transactionInfo": {"transactionId": "t9", "chargingState": "Charging"}}}
    assert observations(started) == [ChargeChanged("CP", 1, True, "t9", "XYZ")]


def test_tx_profiles_are_leased_and_renewed_so_they_end_without_the_platform() -> None:
    model = three_phase_site(32.0, 3)  # failsafe 10.1 A each; two charging get 15.2 A
    allocation, _, sender, clock = service(model)
    allocation.observe(StationSeen("CP2", True, "c-CP2", "1.6", booted=True))  # idle
    connect_and_charge(allocation, "CP0", "CP1")
    asyncio.run(allocation.run_once())
    sent = [p for _, p in sender.sent if p["purpose"] == "TxProfile"]
    assert [(p["max_current_a"], p["valid_to"]) for p in sent] == [
        (15.2, "2026-12-05T12:10:00Z")] * 2  # ten minutes, then the station's failsafe
    assert all("valid_to" not in p for _, p in sender.sent
               if p["purpose"] == "TxDefaultProfile")  # the failsafe itself never ends
    sender.sent.clear()
    clock.now = T0 + timedelta(minutes=4)
    allocation.site_changed_all(failsafe=False)
    asyncio.run(allocation.run_once())
    assert tx_profiles(sender) == []  # not yet half the lease
    clock.now = T0 + timedelta(minutes=5)
    allocation.site_changed_all(failsafe=False)
    asyncio.run(allocation.run_once())
    assert [(s, p["max_current_a"], p["valid_to"]) for s, p in sender.sent
            if p["purpose"] == "TxProfile"] == [
        ("CP0", 15.2, "2026-12-05T12:15:00Z"), ("CP1", 15.2, "2026-12-05T12:15:00Z")]


def test_without_a_lease_tx_profiles_have_no_end() -> None:
    model = three_phase_site(32.0, 3)
    store, sender, clock = MemoryLoadStore(model), Sender(), Clock()
    allocation = LoadAllocation(store, sender, clock, Settings(profile_lease=None))
    allocation.observe(StationSeen("CP2", True, "c-CP2", "1.6", booted=True))
    connect_and_charge(allocation, "CP0", "CP1")
    asyncio.run(allocation.run_once())
    assert [("valid_to" in p) for _, p in sender.sent if p["purpose"] == "TxProfile"] == [
        False, False]


def test_the_sites_figures_and_the_profile_outcomes_are_prometheus_metrics() -> None:
    from prometheus_client import REGISTRY

    from save_server.infrastructure.load import metrics

    model = replace(three_phase_site(32.0, 3), site_id=f"metrics-{T0.timestamp():.0f}",
                    building_metered=True)
    store, sender, clock = MemoryLoadStore(model), Sender(), Clock()
    sender.outcomes["CP2"] = "rejected"
    before = REGISTRY.get_sample_value("save_server_load_profiles_total",
                                       {"outcome": "rejected"}) or 0.0
    allocation = LoadAllocation(store, sender, clock, Settings(),
                                on_allocation=metrics.record_allocation,
                                on_profile=metrics.record_profile)
    store.apply_load("m1", model.site_id, BuildingLoad({"L1": 4.0, "L2": 2.0, "L3": 1.0}, T0))
    connect_and_charge(allocation, "CP0", "CP1", "CP2")
    allocation.observe(CurrentMeasured("CP0", 1, 5.5, T0))
    asyncio.run(allocation.run_once())
    asyncio.run(allocation.run_once())

    def value(name: str) -> float | None:
        return REGISTRY.get_sample_value(name, {"site_id": model.site_id})

    assert value("save_server_load_site_limit_amperes") == 30.4
    assert value("save_server_load_site_building_amperes") == 4.0
    assert value("save_server_load_site_measured_amperes") == 5.5
    assert value("save_server_load_site_uncontrolled_amperes") == 32.0  # CP2 refused: its max
    assert value("save_server_load_site_allocated_amperes") is not None
    assert value("save_server_load_site_stations_never_accepting_profiles") == 1.0  # CP2
    assert REGISTRY.get_sample_value("save_server_load_profiles_total",
                                     {"outcome": "rejected"}) > before


def caps(sender: Sender) -> list[tuple[str, float, int, str | None]]:
    return [(s, p["max_current_a"], p["stack_level"], p.get("valid_to")) for s, p in sender.sent
            if p["purpose"] == "ChargePointMaxProfile"]


def test_each_station_is_capped_at_its_safe_total_and_leased_its_allocation_over_it() -> None:
    """The leased cap is the station's allocation where its failsafe would let a charge
    starting there take more (CP2 idle, CP1 once its charge ended: 0 A < the 10.1 A default);
    where every connector is allowed at least its failsafe (CP0, CP1 charging at 15.2 A) it is
    the station's maximum, so it does not follow each change of the shares (CP0: 15.2 → 30.4 A
    sends no cap; it is renewed with its lease)."""
    model = three_phase_site(32.0, 3)  # safe share 10.1 A each, connectors of 32 A
    allocation, _, sender, clock = service(model)
    allocation.observe(StationSeen("CP2", True, "c-CP2", "1.6", booted=True))
    connect_and_charge(allocation, "CP0", "CP1")
    asyncio.run(allocation.run_once())
    leased = "2026-12-05T12:10:00Z"
    assert sorted(caps(sender)) == [  # permanent at the safe total, leased over it
        ("CP0", 10.1, 0, None), ("CP0", 32.0, 1, leased), ("CP1", 10.1, 0, None),
        ("CP1", 32.0, 1, leased), ("CP2", 0.0, 1, leased), ("CP2", 10.1, 0, None)]
    assert all(p["valid_from"] == "2026-12-05T12:00:00Z" and p["connector_id"] == 0
               for _, p in sender.sent if p["purpose"] == "ChargePointMaxProfile")
    sender.sent.clear()
    allocation.observe(ChargeChanged("CP1", None, False, "101"))  # CP1's charge ends
    clock.now = T0 + timedelta(seconds=40)
    asyncio.run(allocation.run_once())
    assert tx_profiles(sender) == [("CP0", 30.4)]
    assert sorted(caps(sender)) == [("CP1", 0.0, 1, "2026-12-05T12:10:40Z")]
    sender.sent.clear()
    clock.now = T0 + timedelta(minutes=5, seconds=10)  # CP0's and CP2's past half their lease
    allocation.site_changed_all(failsafe=False)
    asyncio.run(allocation.run_once())
    assert sorted(caps(sender)) == [("CP0", 32.0, 1, "2026-12-05T12:15:10Z"),
                                    ("CP2", 0.0, 1, "2026-12-05T12:15:10Z")]  # unchanged


def test_only_an_accepted_failsafe_under_every_connectors_allocation_frees_the_cap() -> None:
    def station(limit: float | None, result: str | None) -> StationLive:
        return StationLive(online=True, failsafe_limit_a=limit, failsafe_result=result)

    assert failsafe_within_allocation(station(10.1, "accepted"), [15.2, 10.1])
    assert failsafe_within_allocation(station(0.0, "accepted"), [0.0, 16.0])  # a 0 A failsafe
    assert not failsafe_within_allocation(station(10.1, "accepted"), [15.2, 0.0])  # one idle
    for unsure in ("timeout", "not_connected", "rejected", None):  # its default unknown
        assert not failsafe_within_allocation(station(10.1, unsure), [32.0])


def test_a_tx_profile_that_did_not_reach_its_station_is_sent_again_after_the_interval() -> None:
    model = three_phase_site(32.0, 3)  # CP2 idle: the default is 10.1 A, the share 15.2 A
    allocation, _, sender, clock = service(model)
    sender.first[("CP1", "TxProfile")] = "not_connected"  # e.g. a broker hiccup
    allocation.leading.set()  # its own view, not the one kept for other replicas
    allocation.observe(StationSeen("CP2", True, "c-CP2", "1.6", booted=True))
    connect_and_charge(allocation, "CP0", "CP1")
    asyncio.run(allocation.run_once())
    assert sorted(tx_profiles(sender)) == [("CP0", 15.2), ("CP1", 15.2)]
    [cp1] = [c for c in allocation.power(model)["connectors"]
             if c["charging_station_id"] == "CP1"]
    assert cp1["state"] == "uncontrolled"  # counted at its maximum meanwhile
    sender.sent.clear()
    clock.now = T0 + timedelta(seconds=10)  # within the interval: not yet
    allocation.site_changed_all(failsafe=False)
    asyncio.run(allocation.run_once())
    assert ("CP1", 15.2) not in tx_profiles(sender)
    assert allocation.power(model)["connectors"][1]["counted_a"] == 32.0
    clock.now = T0 + timedelta(seconds=31)
    asyncio.run(allocation.run_once())
    assert ("CP1", 15.2) in tx_profiles(sender)
    [cp1] = [c for c in allocation.power(model)["connectors"]
             if c["charging_station_id"] == "CP1"]
    assert (cp1["state"], cp1["allocation_a"]) == ("charging", 15.2)


def test_a_failsafe_accepted_on_its_retry_frees_the_station_from_its_maximum_at_once() -> None:
    model = three_phase_site(32.0, 2)
    allocation, _, sender, _ = service(model)
    sender.first[("CP1", "TxDefaultProfile")] = "timeout"
    allocation.leading.set()
    connect_and_charge(allocation, "CP0", "CP1")
    asyncio.run(allocation.run_once())
    states = {c["charging_station_id"]: c["state"] for c in allocation.power(model)["connectors"]}
    assert states == {"CP0": "paused", "CP1": "uncontrolled"}  # CP1 counted at its 32 A
    asyncio.run(allocation.run_once())  # the retry: accepted, and the site recomputed with it
    rows = {c["charging_station_id"]: c for c in allocation.power(model)["connectors"]}
    assert (rows["CP1"]["state"], rows["CP1"]["counted_a"]) == ("charging", None)
    assert rows["CP0"]["allocation_a"] == rows["CP1"]["allocation_a"] == 15.2


def test_a_station_refusing_the_station_max_profile_keeps_its_default_profile_only() -> None:
    model = three_phase_site(32.0, 2)

    class NoMax(Sender):
        async def send(self, station_id: str, parameters: dict[str, Any]) -> str:
            self.sent.append((station_id, parameters))
            return "rejected" if parameters["purpose"] == "ChargePointMaxProfile" else "accepted"

    picky = NoMax()
    allocation = LoadAllocation(MemoryLoadStore(model), picky, Clock(), Settings())
    allocation.leading.set()
    connect_and_charge(allocation, "CP0", "CP1")
    asyncio.run(allocation.run_once())
    asyncio.run(allocation.run_once())
    assert [c[2] for c in caps(picky)] == [0, 0]  # the base only, once each; no leased cap
    row = allocation.power(model)["connectors"][0]
    assert row["station_max"] == {"limit_a": 15.2, "result": "rejected"}
    assert row["allocation_a"] == 15.2  # still managed by its TxProfiles


def test_id_tag_groups_are_looked_up_only_where_a_site_gives_them_a_priority() -> None:
    asked: list[str] = []

    def group_of(tag: str) -> str | None:
        asked.append(tag)
        return None

    plain = three_phase_site(32.0, 1)
    allocation = LoadAllocation(MemoryLoadStore(plain), Sender(), Clock(), Settings(),
                                group_of=group_of)
    allocation.observe(ChargeChanged("CP0", 1, True, "t1", "TAG-A"))  # no group priorities
    allocation.observe(ChargeChanged("ELSEWHERE", 1, True, "t2", "TAG-B"))  # not managed
    assert asked == []


def test_a_leased_cap_not_answered_in_time_is_tried_again_a_refused_one_is_not() -> None:
    model = three_phase_site(32.0, 2)
    answers = {"CP0": "timeout", "CP1": "rejected"}

    class Leased(Sender):
        async def send(self, station_id: str, parameters: dict[str, Any]) -> str:
            self.sent.append((station_id, parameters))
            if parameters["purpose"] == "ChargePointMaxProfile" and parameters["stack_level"]:
                return answers[station_id]
            return "accepted"

    sender = Leased()
    allocation = LoadAllocation(MemoryLoadStore(model), sender, Clock(), Settings())
    connect_and_charge(allocation, "CP0", "CP1")
    asyncio.run(allocation.run_once())
    allocation.site_changed_all(failsafe=False)
    asyncio.run(allocation.run_once())
    leased = [s for s, _, level, _ in caps(sender) if level == 1]
    assert sorted(leased) == ["CP0", "CP0", "CP1"]


class HeldSender(Sender):
    """Holds every answer to the stations in `held` until `release` is set."""

    def __init__(self, held: set[str]) -> None:
        super().__init__()
        self.held, self.release = held, asyncio.Event()

    async def send(self, station_id: str, parameters: dict[str, Any]) -> str:
        self.sent.append((station_id, parameters))
        if station_id in self.held:
            await self.release.wait()
        return "accepted"


def test_a_site_waiting_for_a_slow_station_does_not_hold_another_sites_profiles() -> None:
    slow = replace(three_phase_site(32.0, 2), site_id="slow")
    other = ElectricalModel("other", Supply.THREE_PHASE, 220.0, 32.0, connectors=tuple(
        ConnectorSupply(f"OT{i}", 1, ALL) for i in range(2)))
    sender = HeldSender({"CP0"})
    allocation = LoadAllocation(MemoryLoadStore(slow, other), sender, Clock(),
                                Settings(station_caps=False))
    connect_and_charge(allocation, "CP0", "CP1")

    async def scenario() -> list[str]:
        stop = asyncio.Event()
        task = asyncio.create_task(allocation.run(stop))
        while not any(s == "CP0" for s, _ in sender.sent):  # the slow site's round is held
            await asyncio.sleep(0.001)
        connect_and_charge(allocation, "OT0")  # meanwhile a charge starts at the other site
        while ("OT0", "TxProfile") not in {(s, p["purpose"]) for s, p in sender.sent}:
            await asyncio.sleep(0.001)
        sent = [s for s, _ in sender.sent]
        sender.release.set()
        stop.set()
        await asyncio.wait_for(task, timeout=10)
        return sent

    sent = asyncio.run(scenario())
    assert "OT0" in sent and "CP0" in sent  # the other site went out while CP0 held its own


def test_a_busy_site_is_recomputed_once_its_round_ends() -> None:
    model = three_phase_site(32.0, 3)
    sender = HeldSender({"CP0"})
    allocation = LoadAllocation(MemoryLoadStore(model), sender, Clock(),
                                Settings(station_caps=False))
    connect_and_charge(allocation, "CP0")

    def defaults() -> set[str]:
        return {s for s, p in sender.sent if p["purpose"] == "TxDefaultProfile"}

    async def scenario() -> list[str]:
        stop = asyncio.Event()
        task = asyncio.create_task(allocation.run(stop))
        while "CP0" not in defaults():  # the site's first round is held by CP0
            await asyncio.sleep(0.001)
        connect_and_charge(allocation, "CP1", "CP2")
        for _ in range(50):
            await asyncio.sleep(0)
        held = [s for s, _ in sender.sent]
        sender.release.set()
        while defaults() != {"CP0", "CP1", "CP2"}:  # their failsafe: after the round
            await asyncio.sleep(0.001)
        stop.set()
        await task
        return held

    held = asyncio.run(asyncio.wait_for(scenario(), timeout=20))
    assert set(held) == {"CP0"}  # nothing for CP1 and CP2 while the site's round was held
    assert sorted(tx_profiles(sender)) == [("CP1", 10.1), ("CP2", 10.1)]  # three share it


def test_a_failsafe_not_answered_is_sent_again_at_a_later_round() -> None:
    model = three_phase_site(32.0, 2)
    allocation, _, sender, _ = service(model)
    connect_and_charge(allocation, "CP0", "CP1")
    sender.outcomes["CP0"] = "timeout"
    asyncio.run(allocation.run_once())
    sender.outcomes.clear()
    sender.sent.clear()
    asyncio.run(allocation.run_once())
    assert [(s, p["purpose"]) for s, p in sender.sent if p["purpose"] != "TxProfile"
            and p.get("stack_level") == 0] == [
        ("CP0", "TxDefaultProfile"), ("CP0", "ChargePointMaxProfile")]  # CP1 had answered
    # and the site recomputed with it at once: the leased caps that follow (both stations)
    assert sorted(s for s, _, level, _ in caps(sender) if level == 1) == ["CP0", "CP1"]
