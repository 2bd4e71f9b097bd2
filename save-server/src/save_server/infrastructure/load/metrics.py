"""Prometheus metrics of load management (served with the API's at /metrics)."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge

from save_server.domain.load.allocator import Allocation
from save_server.domain.load.model import ElectricalModel

LIMIT = Gauge("save_server_load_site_limit_amperes",
              "A site's usable supply limit per phase (limit less the margin)", ["site_id"])
ALLOCATED = Gauge("save_server_load_site_allocated_amperes",
                  "Current allocated to a site's controllable connectors, on its most loaded "
                  "phase", ["site_id"])
COUNTED = Gauge("save_server_load_site_uncontrolled_amperes",
                "Current counted for a site's uncontrollable connectors (offline, profile "
                "refused), on its most loaded phase", ["site_id"])
MEASURED = Gauge("save_server_load_site_measured_amperes",
                 "Sum of the charging connectors' last measured currents (highest phase each)",
                 ["site_id"])
BUILDING = Gauge("save_server_load_site_building_amperes",
                 "The building's own load the allocation used (measured or its fallback), on "
                 "its most loaded phase", ["site_id"])
NEVER_ACCEPTING = Gauge("save_server_load_site_stations_never_accepting_profiles",
                        "A site's stations that never accepted a profile (failsafe or "
                        "TxProfile) since the load manager started: not protected by it",
                        ["site_id"])
PAUSED = Gauge("save_server_load_site_paused_connectors",
               "Connectors paused in rotation", ["site_id"])
PROFILES = Counter("save_server_load_profiles_total",
                   "SetChargingProfile sent by load management, by outcome", ["outcome"])


def record_allocation(model: ElectricalModel, result: Allocation, measured_a: float,
                      document: dict[str, Any]) -> None:
    site = model.site_id
    per_phase = {p: 0.0 for p in model.supply.phases}
    uncontrolled = dict(per_phase)
    for connector in model.connectors:
        for phase in connector.phases:
            per_phase[phase] += result.limits.get(connector.key, 0.0)
            uncontrolled[phase] += result.reserved.get(connector.key, 0.0)
    LIMIT.labels(site).set(model.usable(""))
    ALLOCATED.labels(site).set(max(per_phase.values()))
    COUNTED.labels(site).set(max(uncontrolled.values()))
    MEASURED.labels(site).set(measured_a)
    BUILDING.labels(site).set(max(result.building_a.values(), default=0.0))
    NEVER_ACCEPTING.labels(site).set(len(document["stations_never_accepting_profiles"]))
    PAUSED.labels(site).set(len(result.queue))


def record_profile(outcome: str) -> None:
    PROFILES.labels(outcome).inc()
