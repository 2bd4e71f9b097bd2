"""What the load context shows: the `load-management.allocation` event payload and the
`GET /sites/{id}/power` document."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from save_server.domain.load.allocator import Allocation, BuildingLoad
from save_server.domain.load.documents import turns_document
from save_server.domain.load.live import REFUSED_RESULTS, ConnectorLive, StationLive
from save_server.domain.load.model import ConnectorKey, ElectricalModel


def _time(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def allocation_payload(result: Allocation) -> dict[str, Any]:
    keys = sorted(set(result.limits) | set(result.reserved))
    return {
        "site_id": result.site_id, "computed_at": _time(result.computed_at),
        "connectors": [{"charging_station_id": s, "connector_id": c,
                        "limit_a": result.limits.get((s, c)),
                        "reserved_a": result.reserved.get((s, c))} for s, c in keys],
        "queue": [{"charging_station_id": s, "connector_id": c} for s, c in result.queue],
        "building_a": result.building_a, "building_source": result.building_source,
        "available_a": result.available_a,
        "overloaded": [{"node": n or "supply", "phase": p} for n, p in result.overloaded],
        "turns": turns_document(result.turns)}


def _state(key: ConnectorKey, result: Allocation | None, live: ConnectorLive | None,
           station: StationLive | None) -> str:
    """What is true of the connector now (the allocation in force may be older: a station
    that has just connected is still counted at its maximum until the next round)."""
    if station is None or not station.online:
        return "offline"
    if (live is not None and live.refused) or station.failsafe_result in REFUSED_RESULTS:
        return "uncontrolled"  # a profile refused or not delivered: counted at its maximum
    if result is not None and key in result.queue:
        return "paused"
    if live is None or not live.charging:
        return "idle"
    # 1.6 StatusNotification Charging before StartTransaction: no TxProfile can name the
    # charge yet, so it counts at its maximum until its transaction is known
    return "charging" if live.transaction_id is not None else "starting"


def power_document(model: ElectricalModel, result: Allocation | None,
                   connectors: dict[ConnectorKey, ConnectorLive],
                   stations: dict[str, StationLive], load: BuildingLoad | None) -> dict[str, Any]:
    rows = []
    for connector in model.connectors:
        key = connector.key
        live, station = connectors.get(key), stations.get(connector.station_id)
        turn = result.turns.get(key) if result else None
        rows.append({
            "charging_station_id": key[0], "connector_id": key[1],
            "state": _state(key, result, live, station),
            "allocation_a": result.limits.get(key) if result else None,
            "counted_a": result.reserved.get(key) if result else None,
            "measured_a": live.measured_a if live else None,
            "measured_at": _time(live.measured_at) if live else None,
            "car_max_a": live.car_max_a if live else None,
            "rotation": None if turn is None else {
                "running": turn.running, "since": _time(turn.since)},
            "last_profile": None if live is None or live.profile_result is None else {
                "limit_a": live.profile_limit_a, "result": live.profile_result,
                "sent_at": _time(live.profile_sent_at)},
            "failsafe": None if station is None or station.failsafe_result is None else {
                "limit_a": station.failsafe_limit_a, "result": station.failsafe_result},
            "station_max": None if station is None or station.base_cap_result is None else {
                "limit_a": station.base_cap_a, "result": station.base_cap_result}})
    never_accepted = sorted({c.station_id for c in model.connectors
                             if not _ever_accepted(c.station_id, connectors, stations)})
    return {
        "site_id": model.site_id, "supply": str(model.supply), "limit_a": model.limit_a,
        "margin": model.margin, "usable_a": round(model.usable(""), 3),
        "building": {"per_phase_a": result.building_a if result else None,
                     "source": result.building_source if result else None,
                     "measured_at": _time(load.measured_at) if load else None},
        "available_a": result.available_a if result else None,
        "computed_at": _time(result.computed_at) if result else None,
        "overloaded": allocation_payload(result)["overloaded"] if result else [],
        "connectors": rows,
        "queue": [{"charging_station_id": s, "connector_id": c}
                  for s, c in (result.queue if result else ())],
        "stations_never_accepting_profiles": never_accepted}


def _ever_accepted(station_id: str, connectors: dict[ConnectorKey, ConnectorLive],
                   stations: dict[str, StationLive]) -> bool:
    station = stations.get(station_id)
    if station is not None and station.failsafe_result == "accepted":
        return True
    return any(k[0] == station_id and live.profile_result == "accepted"
               for k, live in connectors.items())
