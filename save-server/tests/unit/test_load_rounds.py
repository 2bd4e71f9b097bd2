"""The allocation rounds' group commit, the building loads the allocation keeps, and its own
allocation events recognised when they come back."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Sequence
from datetime import timedelta

import pytest

from save_server.domain.load.allocator import BuildingLoad
from save_server.domain.load.live import ChargeChanged, StationSeen
from save_server.domain.load.model import ElectricalModel
from save_server.domain.load.ports import AllocationRound
from save_server.infrastructure.load.context import LoadContext
from save_server.infrastructure.load.memory import MemoryLoadStore
from save_server.service.load_allocation import LoadAllocation, Settings
from save_server.service.load_management import ALLOCATION, MEASURED
from save_server.service.load_rounds import RecentIds, RoundWriter

from ..load_sites import T0, site, three_phase


class CountingStore(MemoryLoadStore):
    """Counts the commits and the building-load reads; refuses the rounds of `bad` sites."""

    def __init__(self, *models: object) -> None:
        super().__init__(*models)  # type: ignore[arg-type]
        self.commits: list[list[str]] = []
        self.reads = 0
        self.bad: set[str] = set()
        self.gate = threading.Event()
        self.gate.set()

    def record_rounds(self, rounds: Sequence[AllocationRound]) -> None:
        self.gate.wait(5)
        if any(r.site_id in self.bad for r in rounds):
            raise RuntimeError("refused")
        self.commits.append([r.site_id for r in rounds])
        super().record_rounds(rounds)

    def load(self, site_id: str) -> BuildingLoad | None:
        self.reads += 1
        return super().load(site_id)


def metered(stations: int) -> ElectricalModel:
    return site(63.0, *three_phase(stations), building_metered=True)


def a_round(site_id: str) -> AllocationRound:
    return AllocationRound(site_id, {"site_id": site_id}, T0)


def test_rounds_written_meanwhile_share_one_commit_and_each_waits_for_its_own() -> None:
    store = CountingStore()

    async def scenario() -> None:
        writer = RoundWriter(store)
        store.gate.clear()  # the first commit is slow: the next 49 rounds wait for it
        first = asyncio.create_task(writer.write(a_round("S0")))
        await asyncio.sleep(0.05)
        rest = [asyncio.create_task(writer.write(a_round(f"S{i}"))) for i in range(1, 50)]
        await asyncio.sleep(0.05)
        assert not any(t.done() for t in rest)  # none returns before it is committed
        store.gate.set()
        await asyncio.gather(first, *rest)

    asyncio.run(scenario())
    assert store.commits == [["S0"], [f"S{i}" for i in range(1, 50)]]
    assert set(store.powers) == {f"S{i}" for i in range(50)}


def test_a_refused_round_fails_alone_and_the_others_of_its_batch_are_written() -> None:
    store = CountingStore()
    store.bad = {"S2"}

    async def scenario() -> list[BaseException | None]:
        writer = RoundWriter(store)
        results = await asyncio.gather(*(writer.write(a_round(f"S{i}")) for i in range(4)),
                                       return_exceptions=True)
        return list(results)

    results = asyncio.run(scenario())
    assert [r is None for r in results] == [True, True, False, True]
    assert isinstance(results[2], RuntimeError)
    assert set(store.powers) == {"S0", "S1", "S3"}


def test_recent_ids_forget_the_oldest_beyond_their_size() -> None:
    ids = RecentIds(3)
    for item in "abcdd":  # a repeated id is not added twice
        ids.add(item)
    assert [x in ids for x in "abcd"] == [False, True, True, True]


def allocation_of(store: CountingStore) -> LoadAllocation:
    class Accepting:
        async def send(self, station_id: str, parameters: dict[str, object]) -> str:
            return "accepted"

    return LoadAllocation(store, Accepting(), lambda: T0 + timedelta(seconds=10), Settings())  # type: ignore[arg-type]


def test_the_building_load_is_read_once_then_kept_from_the_measurements_seen() -> None:
    model = metered(2)
    store = CountingStore(model)
    store.record_load(model.site_id, BuildingLoad({"L1": 10.0}, T0), _measured())
    allocation = allocation_of(store)
    allocation.observe(StationSeen("CP0", True, "c", "1.6", booted=True))
    allocation.observe(ChargeChanged("CP0", 1, True, "7"))
    asyncio.run(allocation.run_once())
    asyncio.run(allocation.run_once())
    assert store.reads == 1
    later = BuildingLoad({"L1": 30.0}, T0 + timedelta(seconds=5))
    allocation.building_measured(model.site_id, later)
    allocation.building_measured(model.site_id, BuildingLoad({"L1": 1.0}, T0))  # older
    asyncio.run(allocation.run_once())
    assert store.reads == 1
    assert store.powers[model.site_id]["building"]["per_phase_a"]["L1"] == 30.0


def test_a_measurement_during_the_read_makes_the_next_round_read_again() -> None:
    model = metered(1)
    store = CountingStore(model)
    allocation = allocation_of(store)

    original = store.load

    def load_then_measured(site_id: str) -> BuildingLoad | None:
        kept = original(site_id)  # read before the measurement below was applied
        allocation.building_measured(site_id, BuildingLoad({"L1": 5.0}, T0))
        return kept

    store.load = load_then_measured  # type: ignore[method-assign]
    allocation.site_changed(model.site_id)
    asyncio.run(allocation.run_once())
    store.load = original  # type: ignore[method-assign]
    allocation.site_changed(model.site_id)
    asyncio.run(allocation.run_once())
    assert store.reads == 2


def _measured() -> object:
    from save_server.domain.business_events import BusinessEvent
    return BusinessEvent(MEASURED, {}, "tester", event_id=str(uuid.uuid4()), occurred_at=T0)


@pytest.fixture
def context() -> tuple[LoadContext, CountingStore, LoadAllocation]:
    model = metered(2)
    store = CountingStore(model)
    allocation = allocation_of(store)
    allocation.leading.set()
    return LoadContext(None, allocation, store), store, allocation  # type: ignore[arg-type]


def test_its_own_allocation_event_coming_back_is_not_applied_again(
        context: tuple[LoadContext, CountingStore, LoadAllocation]) -> None:
    handler, store, allocation = context
    allocation.observe(StationSeen("CP0", True, "c", "1.6", booted=True))
    allocation.observe(ChargeChanged("CP0", 1, True, "7"))
    asyncio.run(allocation.run_once())
    [own] = [e for e in store.events if e.type == ALLOCATION]
    applied: list[str] = []
    store.apply_turns = lambda event_id, *rest: applied.append(event_id) or True  # type: ignore
    for event_id in (own.event_id, "from-a-replay"):
        handler.handle(json.dumps({"type": ALLOCATION, "event_id": event_id, "payload": {
            "site_id": "S", "turns": [], "computed_at": "2026-12-05T12:00:00Z"}}).encode())
    assert applied == ["from-a-replay"]


def test_a_measurement_another_replica_applied_still_reaches_the_allocation(
        context: tuple[LoadContext, CountingStore, LoadAllocation]) -> None:
    handler, store, allocation = context
    site = store.models()[0].site_id
    event_id = str(uuid.uuid4())
    store.apply_load(event_id, site, BuildingLoad({"L1": 20.0}, T0))
    allocation.site_changed(site)
    asyncio.run(allocation.run_once())  # the site's load is read and kept
    newer = {"site_id": site, "per_phase_a": {"L1": 40.0},
             "measured_at": "2026-12-05T12:00:09Z"}
    store._applied.add(event_id := str(uuid.uuid4()))  # applied by the other replica
    handler.handle(json.dumps({"type": MEASURED, "event_id": event_id,
                               "payload": newer}).encode())
    allocation.site_changed(site)
    asyncio.run(allocation.run_once())
    assert store.powers[site]["building"]["per_phase_a"]["L1"] == 40.0
