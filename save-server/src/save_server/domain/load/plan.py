"""The order of the changes: decreases first; increases only once the decreases are accepted
(or timed out), so the sum stays under every limit during the change too."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from save_server.domain.load.model import ConnectorKey

DEFAULT_HYSTERESIS_A = 1.0


@dataclass(frozen=True)
class Plan:
    decreases: tuple[tuple[ConnectorKey, float], ...]
    increases: tuple[tuple[ConnectorKey, float], ...]

    @property
    def empty(self) -> bool:
        return not self.decreases and not self.increases


def plan_changes(current: Mapping[ConnectorKey, float], target: Mapping[ConnectorKey, float],
                 hysteresis_a: float = DEFAULT_HYSTERESIS_A) -> Plan:
    """`current`: the limit each connector works with now (the last accepted profile, or its
    default profile). A decrease is always sent (safety); an increase only when it is worth
    at least `hysteresis_a`, or when it lifts a paused connector, or reaches the target from 0."""
    decreases, increases = [], []
    for key in sorted(target):
        now, wanted = current.get(key), target[key]
        if now is None or wanted < now - 1e-9:  # unknown: a cap, sent with the decreases
            decreases.append((key, wanted))
        elif wanted - now >= hysteresis_a or (now == 0 and wanted > 0):
            increases.append((key, wanted))
    return Plan(tuple(decreases), tuple(increases))
