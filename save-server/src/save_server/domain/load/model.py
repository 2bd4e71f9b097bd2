"""A site's electrical description: its supply, limits, circuit tree and connector mapping.

Currents are amperes per phase. A connector draws the same current on every phase it uses;
`phases` maps the charger's own L1, L2, L3 to the site's phases, in order (a 1-phase charger
wired to the site's L2 has `phases=("L2",)`; 1-phase chargers are spread over L1/L2/L3 this way).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property

from save_server.domain.id_tags.model import GROUP_ID_MAX

PHASES = ("L1", "L2", "L3")
DEFAULT_MARGIN = 0.05
DEFAULT_MIN_A = 6.0  # IEC 61851: below 6 A a car does not charge
DEFAULT_MAX_A = 32.0
DEFAULT_MEASUREMENT_MAX_AGE_S = 300.0
# The largest current per phase a supply type can carry; anything above is a typing error.
# Low-voltage single-phase connections stop well below 125 A; a three-phase low-voltage
# connection (a building's transformer) stays below 3,000 A.
SUPPLY_MAX_A = {"single-phase": 125.0, "three-phase": 3000.0}
VOLTAGE_RANGE = (100.0, 400.0)  # phase-to-neutral; Brazil: 127 V or 220 V
CONNECTOR_MAX_A = 500.0  # DC chargers included


MAX_PRIORITY = 10  # of a connector or an id tag group; higher is served first

class Supply(StrEnum):
    SINGLE_PHASE = "single-phase"
    THREE_PHASE = "three-phase"

    @property
    def phases(self) -> tuple[str, ...]:
        return PHASES[:1] if self is Supply.SINGLE_PHASE else PHASES


class InvalidElectricalModel(ValueError):
    """A model that cannot be right: names the field so the API can say which (422)."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field_name = field_name

    @classmethod
    def unknown_group(cls, group_id: str) -> InvalidElectricalModel:
        return cls("group_priorities", f"no id tag group {group_id!r} (create it first: "
                                       "/id-tag-groups; ids are case-sensitive)")


ConnectorKey = tuple[str, int]  # (station id, connector id; the EVSE id in 2.0.1)
ROOT = ""  # the site's main supply as a node of the circuit tree


@dataclass(frozen=True)
class Circuit:
    """A node below the site's supply; `parent_id` None hangs it on the supply itself."""

    circuit_id: str
    limit_a: float
    parent_id: str | None = None


@dataclass(frozen=True)
class ConnectorSupply:
    station_id: str
    connector_id: int
    phases: tuple[str, ...]
    circuit_id: str | None = None  # None: directly on the site's supply
    min_a: float = DEFAULT_MIN_A
    max_a: float = DEFAULT_MAX_A
    priority: int = 0  # higher is served first (admission and surplus); default all equal

    @cached_property
    def key(self) -> ConnectorKey:
        return (self.station_id, self.connector_id)


@dataclass(frozen=True)
class ElectricalModel:
    site_id: str
    supply: Supply
    voltage_v: float
    limit_a: float
    margin: float = DEFAULT_MARGIN
    circuits: tuple[Circuit, ...] = ()
    connectors: tuple[ConnectorSupply, ...] = ()
    building_metered: bool = False  # an external meter reports the building's own load
    measurement_max_age_s: float = DEFAULT_MEASUREMENT_MAX_AGE_S
    building_fallback_a: float | None = None  # None: half the limit (load-management.md)
    building_meter: ConnectorKey | None = None  # a station's meter (connector 0: its main
                                                 # meter) measuring the building's own load
    group_priorities: tuple[tuple[str, int], ...] = ()  # (id tag group, priority) of charges

    def group_priority(self, group_id: str | None) -> int | None:
        """The priority a charge of this id tag group gets here; None: no such rule."""
        return next((p for g, p in self.group_priorities if g == group_id), None) \
            if group_id is not None else None

    def node_limit(self, node: str) -> float:
        if node == ROOT:
            return self.limit_a
        return next(c.limit_a for c in self.circuits if c.circuit_id == node)

    def usable(self, node: str) -> float:
        """A node's limit less the safety margin."""
        return self.node_limit(node) * (1.0 - self.margin)

    def path(self, connector: ConnectorSupply) -> tuple[str, ...]:
        """The nodes a connector's current flows through, from its circuit up to the supply."""
        parents = {c.circuit_id: c.parent_id for c in self.circuits}
        nodes: list[str] = []
        node = connector.circuit_id
        while node is not None:
            nodes.append(node)
            node = parents[node]
        return (*nodes, ROOT)

    def paths(self) -> dict[ConnectorKey, tuple[str, ...]]:
        """Every connector's path (one pass over the tree)."""
        parents = {c.circuit_id: c.parent_id for c in self.circuits}
        found: dict[ConnectorKey, tuple[str, ...]] = {}
        for connector in self.connectors:
            nodes, node = [], connector.circuit_id
            while node is not None:
                nodes.append(node)
                node = parents[node]
            found[connector.key] = (*nodes, ROOT)
        return found

    @cached_property
    def uses(self) -> dict[ConnectorKey, tuple[tuple[str, str], ...]]:
        """Every connector's (node, phase) pairs, computed once per model."""
        return {key: tuple((n, p) for n in path for p in connector.phases)
                for connector, (key, path) in zip(self.connectors, self.paths().items(),
                                                  strict=True)}

    def fallback_building_a(self) -> float:
        return self.limit_a / 2 if self.building_fallback_a is None else self.building_fallback_a

    def connector(self, key: ConnectorKey) -> ConnectorSupply | None:
        return next((c for c in self.connectors if c.key == key), None)


def limit_from_kw(kw: float, supply: Supply, voltage_v: float) -> float:
    """A limit given in kW as amperes per phase (unity power factor, balanced phases)."""
    return kw * 1000.0 / (voltage_v * len(supply.phases))


def check_model(model: ElectricalModel) -> ElectricalModel:
    """The model, or InvalidElectricalModel naming what is wrong."""
    _check_supply(model)
    _check_circuits(model)
    _check_connectors(model)
    _check_groups(model)
    return model


def _check_groups(model: ElectricalModel) -> None:
    groups = [g for g, _ in model.group_priorities]
    if any(not g for g in groups) or len(set(groups)) != len(groups):
        raise InvalidElectricalModel("group_priorities",
                                     "each id tag group once, with a non-empty id")
    too_long = next((g for g in groups if len(g) > GROUP_ID_MAX), None)
    if too_long is not None:
        raise InvalidElectricalModel(
            "group_priorities", f"group_id {too_long!r} is {len(too_long)} characters; an id "
                                f"tag group's id has at most {GROUP_ID_MAX}")
    if not all(0 <= p <= MAX_PRIORITY for _, p in model.group_priorities):
        raise InvalidElectricalModel("group_priorities",
                                     f"a priority is between 0 and {MAX_PRIORITY}")


def _check_supply(model: ElectricalModel) -> None:
    ceiling = SUPPLY_MAX_A[model.supply]
    if not model.limit_a > 0:
        raise InvalidElectricalModel("limit_a", "the limit must be above 0 A")
    if model.limit_a > ceiling:
        raise InvalidElectricalModel(
            "limit_a", f"{model.limit_a:g} A is more than a {model.supply} supply carries "
                       f"({ceiling:g} A per phase)")
    if not VOLTAGE_RANGE[0] <= model.voltage_v <= VOLTAGE_RANGE[1]:
        low, high = VOLTAGE_RANGE
        raise InvalidElectricalModel(
            "voltage_v", f"the phase-to-neutral voltage is between {low:g} and {high:g} V")
    if not 0 <= model.margin < 0.5:
        raise InvalidElectricalModel("margin", "the margin is a fraction from 0 to 0.5")
    if not model.measurement_max_age_s > 0:
        raise InvalidElectricalModel("measurement_max_age_s", "the age must be above 0 s")
    if model.building_meter is not None and not model.building_metered:
        raise InvalidElectricalModel("building_meter",
                                     "a building meter needs building_metered: true")
    if model.building_meter is not None and model.building_meter[1] < 0:
        raise InvalidElectricalModel("building_meter", "connector ids start at 0")
    fallback = model.building_fallback_a
    if fallback is not None and not 0 <= fallback <= model.limit_a:
        raise InvalidElectricalModel("building_fallback_a",
                                     "the fallback building load is between 0 and the limit")


def _check_circuits(model: ElectricalModel) -> None:
    by_id: dict[str, Circuit] = {}
    for circuit in model.circuits:
        if not circuit.circuit_id or circuit.circuit_id in by_id:
            raise InvalidElectricalModel("circuits", "circuit ids are unique and not empty "
                                                     f"({circuit.circuit_id!r})")
        by_id[circuit.circuit_id] = circuit
    for circuit in model.circuits:
        if circuit.parent_id is not None and circuit.parent_id not in by_id:
            raise InvalidElectricalModel(
                "circuits", f"circuit {circuit.circuit_id!r}: unknown parent "
                            f"{circuit.parent_id!r}")
        if not circuit.limit_a > 0:
            raise InvalidElectricalModel(
                "circuits", f"circuit {circuit.circuit_id!r}: the limit must be above 0 A")
        parent_limit = (model.limit_a if circuit.parent_id is None
                        else by_id[circuit.parent_id].limit_a)
        if circuit.limit_a > parent_limit:
            raise InvalidElectricalModel(
                "circuits", f"circuit {circuit.circuit_id!r}: {circuit.limit_a:g} A is above "
                            f"its parent's {parent_limit:g} A")
    for circuit in model.circuits:
        seen = {circuit.circuit_id}
        node = circuit.parent_id
        while node is not None:
            if node in seen:
                raise InvalidElectricalModel(
                    "circuits", f"circuit {circuit.circuit_id!r} is part of a cycle")
            seen.add(node)
            node = by_id[node].parent_id


def _check_connectors(model: ElectricalModel) -> None:
    seen: set[ConnectorKey] = set()
    circuits = {c.circuit_id for c in model.circuits}
    for connector in model.connectors:
        name = f"connector {connector.station_id}/{connector.connector_id}"
        if connector.key in seen:
            raise InvalidElectricalModel("connectors", f"{name} is listed twice")
        seen.add(connector.key)
        if connector.connector_id < 1:
            raise InvalidElectricalModel("connectors", f"{name}: connector ids start at 1")
        if connector.circuit_id is not None and connector.circuit_id not in circuits:
            raise InvalidElectricalModel(
                "connectors", f"{name}: unknown circuit {connector.circuit_id!r}")
        _check_phases(model, connector, name)
        if not 0 <= connector.min_a <= connector.max_a <= CONNECTOR_MAX_A:
            raise InvalidElectricalModel(
                "connectors", f"{name}: needs 0 ≤ min_a ≤ max_a ≤ {CONNECTOR_MAX_A:g} A")
        tightest = min(model.usable(node) for node in model.path(connector))
        if connector.min_a > tightest:  # it could never charge: rotation could not serve it
            raise InvalidElectricalModel(
                "connectors", f"{name}: its minimum {connector.min_a:g} A is more than its "
                              f"circuit carries after the margin ({tightest:g} A)")


def _check_phases(model: ElectricalModel, connector: ConnectorSupply, name: str) -> None:
    phases = connector.phases
    if not phases or len(set(phases)) != len(phases) or len(phases) > 3:
        raise InvalidElectricalModel("connectors",
                                     f"{name}: one to three distinct phases")
    missing = [p for p in phases if p not in model.supply.phases]
    if missing:
        raise InvalidElectricalModel(
            "connectors", f"{name}: phase {missing[0]} does not exist on a "
                          f"{model.supply} site ({', '.join(model.supply.phases)})")
