"""The electrical model: every bad model is refused with the field that is wrong."""

from __future__ import annotations

from dataclasses import replace

import pytest

from save_server.domain.load.model import (
    Circuit,
    ConnectorSupply,
    ElectricalModel,
    InvalidElectricalModel,
    Supply,
    check_model,
    limit_from_kw,
)

THREE = Supply.THREE_PHASE
GOOD = ElectricalModel(
    "site", THREE, 220.0, 63.0,
    circuits=(Circuit("garage", 50.0), Circuit("row-a", 32.0, "garage")),
    connectors=(ConnectorSupply("CP1", 1, ("L1", "L2", "L3"), "row-a"),
                ConnectorSupply("CP2", 1, ("L2",), "garage")))


def test_a_good_model_passes_and_paths_run_up_to_the_supply() -> None:
    model = check_model(GOOD)
    assert model.path(GOOD.connectors[0]) == ("row-a", "garage", "")
    assert model.path(GOOD.connectors[1]) == ("garage", "")


def test_a_limit_in_kw_becomes_amperes_per_phase() -> None:
    assert limit_from_kw(41.58, THREE, 220.0) == pytest.approx(63.0)
    assert limit_from_kw(2.54, Supply.SINGLE_PHASE, 127.0) == pytest.approx(20.0)


@pytest.mark.parametrize(("change", "field_name", "words"), [
    ({"limit_a": 0.0}, "limit_a", "above 0"),
    ({"limit_a": -5.0}, "limit_a", "above 0"),
    ({"limit_a": 4000.0}, "limit_a", "more than a three-phase supply"),
    ({"supply": Supply.SINGLE_PHASE, "limit_a": 200.0, "connectors": ()}, "limit_a",
     "single-phase"),
    ({"voltage_v": 12.0}, "voltage_v", "between"),
    ({"margin": 0.7}, "margin", "fraction"),
    ({"margin": -0.1}, "margin", "fraction"),
    ({"measurement_max_age_s": 0.0}, "measurement_max_age_s", "above 0"),
    ({"building_fallback_a": 70.0}, "building_fallback_a", "between 0 and the limit"),
    ({"circuits": (Circuit("a", 70.0),)}, "circuits", "above its parent"),
    ({"circuits": (Circuit("a", 40.0), Circuit("b", 45.0, "a"))}, "circuits",
     "above its parent"),
    ({"circuits": (Circuit("a", 0.0),)}, "circuits", "above 0"),
    ({"circuits": (Circuit("a", 10.0, "b"), Circuit("b", 10.0, "a"))}, "circuits", "cycle"),
    ({"circuits": (Circuit("a", 10.0, "a"),)}, "circuits", "cycle"),
    ({"circuits": (Circuit("a", 10.0, "nowhere"),)}, "circuits", "unknown parent"),
    ({"circuits": (Circuit("a", 10.0), Circuit("a", 12.0))}, "circuits", "unique"),
    ({"connectors": (ConnectorSupply("CP1", 1, ("L1",), "ghost"),)}, "connectors",
     "unknown circuit"),
    ({"connectors": (ConnectorSupply("CP1", 1, ("L1",)),) * 2}, "connectors", "twice"),
    ({"connectors": (ConnectorSupply("CP1", 0, ("L1",)),)}, "connectors", "start at 1"),
    ({"connectors": (ConnectorSupply("CP1", 1, ()),)}, "connectors", "distinct phases"),
    ({"connectors": (ConnectorSupply("CP1", 1, ("L1", "L1")),)}, "connectors",
     "distinct phases"),
    ({"connectors": (ConnectorSupply("CP1", 1, ("L4",)),)}, "connectors", "does not exist"),
    ({"supply": Supply.SINGLE_PHASE, "circuits": (),
      "connectors": (ConnectorSupply("CP1", 1, ("L2",)),)}, "connectors",
     "phase L2 does not exist on a single-phase site"),
    ({"connectors": (ConnectorSupply("CP1", 1, ("L1",), min_a=20.0, max_a=16.0),)},
     "connectors", "min_a"),
    ({"connectors": (ConnectorSupply("CP1", 1, ("L1",), max_a=900.0),)}, "connectors",
     "max_a"),
    ({"building_meter": ("METER", 0)}, "building_meter", "building_metered: true"),
    ({"building_meter": ("METER", -1), "building_metered": True}, "building_meter",
     "start at 0"),
    ({"circuits": (Circuit("tiny", 6.0),),
      "connectors": (ConnectorSupply("CP1", 1, ("L1",), "tiny"),)}, "connectors",
     "more than its circuit carries"),
])
def test_a_bad_model_is_refused_naming_its_field(change: dict, field_name: str,
                                                 words: str) -> None:
    with pytest.raises(InvalidElectricalModel) as refused:
        check_model(replace(GOOD, **change))
    assert refused.value.field_name == field_name
    assert words in str(refused.value)
