"""The invariant checker itself, on hand-made runs: it finds what it must find."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.e2e.load_invariants import check_allocations, check_draws, check_waits
from tests.e2e.load_sim import Sample

T0 = datetime(2026, 12, 5, 12, tzinfo=UTC)
MODEL = {"limit_a": 63.0, "margin": 0.05, "connectors": [
    {"charging_station_id": s, "connector_id": 1, "phases": ["L1", "L2", "L3"]}
    for s in ("A", "B", "C")]}


def allocation(at: datetime, limits: dict[str, float], queue: list[str] = (),
               reserved: dict[str, float] | None = None, building: float = 0.0,
               overloaded: bool = False) -> dict:
    rows = [{"charging_station_id": s, "connector_id": 1, "limit_a": a, "reserved_a": None}
            for s, a in limits.items()]
    rows += [{"charging_station_id": s, "connector_id": 1, "limit_a": None, "reserved_a": a}
             for s, a in (reserved or {}).items()]
    return {"payload": {
        "computed_at": at.isoformat().replace("+00:00", "Z"), "connectors": rows,
        "queue": [{"charging_station_id": s, "connector_id": 1} for s in queue],
        "building_a": dict.fromkeys(("L1", "L2", "L3"), building),
        "overloaded": [{"node": "supply", "phase": "L1"}] if overloaded else []}}


def test_an_allocation_over_the_usable_limit_is_reported() -> None:
    good = allocation(T0, {"A": 20.0, "B": 19.0}, reserved={"C": 16.0}, building=4.0)
    bad = allocation(T0, {"A": 20.0, "B": 20.0}, reserved={"C": 16.0}, building=4.0)
    assert check_allocations(MODEL, [good]) == []
    assert len(check_allocations(MODEL, [bad])) == 3  # every phase: 60 A > 59.85 A
    paused = allocation(T0, {"A": 0.0}, reserved={"B": 32.0, "C": 32.0}, overloaded=True)
    assert [p for p in check_allocations(MODEL, [paused]) if "L1" in p] == []
    given = allocation(T0, {"A": 6.0}, reserved={"B": 32.0, "C": 32.0}, overloaded=True)
    assert any("overloaded but" in p for p in check_allocations(MODEL, [given]))


def test_a_wait_longer_than_promised_is_reported_also_when_still_open() -> None:
    slot = 15.0
    events = [allocation(T0, {"A": 10, "B": 0}, queue=["B"]),
              allocation(T0 + timedelta(seconds=16), {"A": 0, "B": 10}, queue=["A"])]
    assert check_waits(events, slot, 2.0, until=T0 + timedelta(seconds=20)) == []
    late = [events[0], allocation(T0 + timedelta(seconds=20), {"A": 10, "B": 0}, queue=["B"])]
    assert check_waits(late, slot, 2.0, until=T0 + timedelta(seconds=20)) != []
    assert check_waits(events[:1], slot, 2.0, until=T0 + timedelta(seconds=30)) != []


def test_cars_drawing_over_the_limit_are_reported_outside_the_transition_window() -> None:
    def sample(wall: float, draw: float) -> Sample:
        return Sample(wall, dict.fromkeys(("L1", "L2", "L3"), draw),
                      dict.fromkeys(("L1", "L2", "L3"), 5.0), False)

    assert check_draws([sample(1.0, 54.0)], 63.0, 0.05, [], 3.0) == []
    assert len(check_draws([sample(1.0, 56.0)], 63.0, 0.05, [], 3.0)) == 3
    assert check_draws([sample(1.0, 56.0)], 63.0, 0.05, [0.5], 3.0) == []  # in the window
    assert len(check_draws([sample(1.0, 59.0)], 63.0, 0.05, [0.5], 3.0)) == 3  # > breaker
