"""The allocator on hand-worked sites: fair share, circuits, phases, rotation, building load."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from save_server.domain.load.allocator import BuildingLoad, ConnectorDemand, allocate
from save_server.domain.load.model import (
    Circuit,
    ConnectorSupply,
    InvalidElectricalModel,
    check_model,
)
from save_server.domain.load.plan import plan_changes
from save_server.domain.load.rotation import Turn

from ..load_sites import ALL, T0, site, three_phase


def charging(*keys: tuple[str, int], **options: object) -> dict:
    return {k: ConnectorDemand(k, True, **options) for k in keys}  # type: ignore[arg-type]


def test_two_cars_share_the_site_equally() -> None:
    a, b = three_phase(2)
    result = allocate(site(32.0, a, b), charging(a.key, b.key), None, {}, T0)
    assert result.limits == {a.key: 15.2, b.key: 15.2}  # 32 A less 5 % = 30.4 A


def test_a_car_that_takes_less_leaves_the_rest_to_the_others() -> None:
    a, b = three_phase(2)
    demands = charging(a.key) | {b.key: ConnectorDemand(b.key, True, car_max_a=8.0)}
    result = allocate(site(32.0, a, b), demands, None, {}, T0)
    assert result.limits == {a.key: 22.4, b.key: 8.0}


def test_nobody_gets_more_than_its_connector_maximum() -> None:
    a, = three_phase(1, max_a=16.0)
    assert allocate(site(63.0, a), charging(a.key), None, {}, T0).limits == {a.key: 16.0}


def test_single_phase_chargers_spread_over_the_phases_do_not_compete() -> None:
    chargers = [ConnectorSupply(f"CP{i}", 1, (p,)) for i, p in enumerate(ALL)]
    result = allocate(site(20.0, *chargers), charging(*(c.key for c in chargers)), None, {}, T0)
    assert set(result.limits.values()) == {19.0}


def test_two_single_phase_chargers_on_one_phase_share_it() -> None:
    a, b = ConnectorSupply("A", 1, ("L2",)), ConnectorSupply("B", 1, ("L2",))
    c = ConnectorSupply("C", 1, ("L3",))
    result = allocate(site(20.0, a, b, c), charging(a.key, b.key, c.key), None, {}, T0)
    assert result.limits == {a.key: 9.5, b.key: 9.5, c.key: 19.0}


def test_a_circuit_limit_binds_its_connectors_and_frees_the_rest() -> None:
    a, b = (ConnectorSupply(f"R{i}", 1, ALL, "row") for i in range(2))
    c = ConnectorSupply("X", 1, ALL)
    model = site(63.0, a, b, c, circuits=(Circuit("row", 16.0),))
    result = allocate(model, charging(a.key, b.key, c.key), None, {}, T0)
    assert result.limits == {a.key: 7.6, b.key: 7.6, c.key: 32.0}


def test_when_minimums_do_not_fit_the_last_comer_waits_in_rotation() -> None:
    connectors = three_phase(10)
    keys = [c.key for c in connectors]
    turns = {k: Turn(True, T0 - timedelta(minutes=i)) for i, k in enumerate(keys[:9])}
    result = allocate(site(63.0, *connectors), charging(*keys), None, turns, T0)
    assert result.limits[keys[9]] == 0.0
    assert result.queue == (keys[9],)
    assert [result.limits[k] for k in keys[:9]] == [6.6] * 9  # (59.85 - 54) / 9 on top of 6


def test_after_a_slot_the_longest_charging_yields_to_the_one_waiting() -> None:
    connectors = three_phase(10)
    keys = [c.key for c in connectors]
    turns = {k: Turn(True, T0 - timedelta(minutes=20 - i)) for i, k in enumerate(keys[:9])}
    turns[keys[9]] = Turn(False, T0 - timedelta(minutes=15))
    result = allocate(site(63.0, *connectors), charging(*keys), None, turns, T0)
    assert result.limits[keys[9]] > 0
    assert result.queue == (keys[0],)  # charged since T0 - 20 min: the longest
    assert result.turns[keys[9]] == Turn(True, T0)


def test_an_uncontrollable_connector_is_counted_at_its_maximum() -> None:
    a, b = three_phase(2)
    demands = charging(a.key) | {b.key: ConnectorDemand(b.key, False, controllable=False)}
    result = allocate(site(63.0, a, b), demands, None, {}, T0)
    assert result.reserved == {b.key: 32.0}
    assert result.limits == {a.key: 27.8}  # 59.85 - 32, rounded down


def test_uncontrollable_connectors_above_the_limit_pause_everyone_and_say_so() -> None:
    a, b, c = three_phase(3)
    demands = charging(a.key) | {k: ConnectorDemand(k, True, controllable=False)
                                 for k in (b.key, c.key)}
    result = allocate(site(63.0, a, b, c), demands, None, {}, T0)
    assert result.limits == {a.key: 0.0}
    assert ("", "L1") in result.overloaded


def test_a_fresh_measurement_of_the_building_is_subtracted_per_phase() -> None:
    a = ConnectorSupply("A", 1, ("L1",))
    b = ConnectorSupply("B", 1, ("L2",))
    load = BuildingLoad({"L1": 20.0, "L2": 5.0, "L3": 0.0}, T0 - timedelta(seconds=30))
    result = allocate(site(40.0, a, b, building_metered=True), charging(a.key, b.key), load,
                      {}, T0)
    assert result.building_source == "measured"
    assert result.limits == {a.key: 18.0, b.key: 32.0}


@pytest.mark.parametrize(("load", "expected_building"), [
    (None, 20.0),  # never measured: the fallback, half the limit
    (BuildingLoad({"L1": 5.0}, T0 - timedelta(minutes=6)), 20.0),  # stale, below fallback
    (BuildingLoad({"L1": 30.0}, T0 - timedelta(minutes=6)), 30.0),  # stale, above: kept
])
def test_a_missing_or_stale_measurement_falls_back_conservatively(
        load: BuildingLoad | None, expected_building: float) -> None:
    a = ConnectorSupply("A", 1, ("L1",))
    result = allocate(site(40.0, a, building_metered=True), charging(a.key), load, {}, T0)
    assert result.building_source == "fallback"
    assert result.building_a["L1"] == expected_building
    expected = max(0.0, 38.0 - expected_building)
    assert result.limits[a.key] == (pytest.approx(expected, abs=0.1) if expected >= 6 else 0.0)


def test_higher_priority_is_filled_first_but_everyone_keeps_the_minimum() -> None:
    a = ConnectorSupply("A", 1, ALL, priority=1)
    b, c = three_phase(2)
    result = allocate(site(40.0, a, b, c), charging(a.key, b.key, c.key), None, {}, T0)
    assert result.limits == {a.key: 26.0, b.key: 6.0, c.key: 6.0}


def test_idle_connectors_get_nothing_and_are_not_listed() -> None:
    a, b = three_phase(2)
    demands = charging(a.key) | {b.key: ConnectorDemand(b.key, False)}
    assert allocate(site(63.0, a, b), demands, None, {}, T0).limits == {a.key: 32.0}


def test_the_plan_sends_decreases_first_and_skips_small_increases() -> None:
    current = {("A", 1): 16.0, ("B", 1): 10.0, ("C", 1): 10.0, ("D", 1): 0.0}
    target = {("A", 1): 10.0, ("B", 1): 16.0, ("C", 1): 10.5, ("D", 1): 6.0, ("E", 1): 6.0}
    plan = plan_changes(current, target, hysteresis_a=1.0)
    assert plan.decreases == ((("A", 1), 10.0), (("E", 1), 6.0))
    assert plan.increases == ((("B", 1), 16.0), (("D", 1), 6.0))


def test_a_charge_of_a_prioritized_group_is_filled_first_above_the_minimums() -> None:
    a, b = three_phase(2)
    demands = charging(a.key) | {b.key: ConnectorDemand(b.key, True, priority=2)}
    result = allocate(site(32.0, a, b), demands, None, {}, T0)
    assert result.limits == {a.key: 6.0, b.key: 24.4}  # b first, a keeps its minimum
    low = allocate(site(32.0, a, replace(b, priority=5)), demands, None, {}, T0)
    assert low.limits[b.key] == 24.4  # the connector's own priority when it is higher


def test_a_model_names_each_group_once_with_a_priority_in_range() -> None:
    with pytest.raises(InvalidElectricalModel, match="each id tag group once"):
        check_model(site(32.0, group_priorities=(("G", 1), ("G", 2))))
    with pytest.raises(InvalidElectricalModel, match="between 0 and 10"):
        check_model(site(32.0, group_priorities=(("G", 11),)))
    with pytest.raises(InvalidElectricalModel, match="at most 20"):  # an id tag group's id
        check_model(site(32.0, group_priorities=(("G" * 21, 1),)))
    assert check_model(site(32.0, group_priorities=(("G" * 20, 1),)))
    assert site(32.0, group_priorities=(("G", 3),)).group_priority("G") == 3
    assert site(32.0).group_priority("G") is None
