"""The electrical model and the building load as JSON documents: the API's body, the
`load-management.*` event payloads and the stored rows all use these one shapes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from save_server.domain.load.allocator import BuildingLoad
from save_server.domain.load.model import (
    Circuit,
    ConnectorKey,
    ConnectorSupply,
    ElectricalModel,
    Supply,
)
from save_server.domain.load.rotation import Turn


def model_document(model: ElectricalModel) -> dict[str, Any]:
    return {
        "site_id": model.site_id, "supply": str(model.supply), "voltage_v": model.voltage_v,
        "limit_a": model.limit_a, "margin": model.margin,
        "building_metered": model.building_metered,
        "measurement_max_age_s": model.measurement_max_age_s,
        "building_fallback_a": model.building_fallback_a,
        "building_meter": None if model.building_meter is None else {
            "charging_station_id": model.building_meter[0],
            "connector_id": model.building_meter[1]},
        "circuits": [{"circuit_id": c.circuit_id, "limit_a": c.limit_a,
                      "parent_id": c.parent_id} for c in model.circuits],
        "connectors": [{"charging_station_id": c.station_id, "connector_id": c.connector_id,
                        "phases": list(c.phases), "circuit_id": c.circuit_id,
                        "min_a": c.min_a, "max_a": c.max_a, "priority": c.priority}
                       for c in model.connectors],
        "group_priorities": [{"group_id": g, "priority": p} for g, p in model.group_priorities]}


def model_from_document(document: dict[str, Any]) -> ElectricalModel:
    """Raises KeyError/TypeError/ValueError on a document that is not a model."""
    return ElectricalModel(
        str(document["site_id"]), Supply(document["supply"]), float(document["voltage_v"]),
        float(document["limit_a"]), float(document["margin"]),
        tuple(Circuit(str(c["circuit_id"]), float(c["limit_a"]), c.get("parent_id"))
              for c in document.get("circuits") or ()),
        tuple(ConnectorSupply(str(c["charging_station_id"]), int(c["connector_id"]),
                              tuple(c["phases"]), c.get("circuit_id"), float(c["min_a"]),
                              float(c["max_a"]), int(c.get("priority", 0)))
              for c in document.get("connectors") or ()),
        bool(document.get("building_metered", False)),
        float(document["measurement_max_age_s"]),
        None if document.get("building_fallback_a") is None
        else float(document["building_fallback_a"]),
        _meter(document.get("building_meter")),
        tuple((str(g["group_id"]), int(g["priority"]))
              for g in document.get("group_priorities") or ()))


def _meter(document: dict[str, Any] | None) -> tuple[str, int] | None:
    if not document:
        return None
    return (str(document["charging_station_id"]), int(document["connector_id"]))


def load_document(site_id: str, load: BuildingLoad) -> dict[str, Any]:
    return {"site_id": site_id, "per_phase_a": dict(load.per_phase),
            "measured_at": load.measured_at.astimezone(UTC).isoformat().replace("+00:00", "Z")}


def load_from_document(document: dict[str, Any]) -> BuildingLoad:
    measured = datetime.fromisoformat(str(document["measured_at"]).replace("Z", "+00:00"))
    return BuildingLoad({str(k): float(v) for k, v in document["per_phase_a"].items()},
                        measured.astimezone(UTC))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def turns_document(turns: Mapping[ConnectorKey, Turn]) -> list[dict[str, Any]]:
    """The rotation's turns, as the allocation event carries them and the table keeps them."""
    return [{"charging_station_id": s, "connector_id": c, "running": turns[(s, c)].running,
             "since": _iso(turns[(s, c)].since)} for s, c in sorted(turns)]


def turns_from_document(document: list[dict[str, Any]]) -> dict[ConnectorKey, Turn]:
    """Raises KeyError/TypeError/ValueError on a document that is not a list of turns."""
    return {(str(t["charging_station_id"]), int(t["connector_id"])): Turn(
        bool(t["running"]), datetime.fromisoformat(str(t["since"]).replace("Z", "+00:00"))
        .astimezone(UTC)) for t in document}
