"""`registry.*` back into station registrations, password hashes included (the salted
SHA-256 hashes the gateways receive anyway; docs/events.md). Every state-carrying event holds
the registration whole with its registry revision: a registration is replaced only by a higher
revision, so redelivered or reordered copies change nothing, and the registry's revision
counter never falls behind what the gateways already hold."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from save_server.domain.commands import ProjectBusinessEvent
from save_server.infrastructure.accounts.store import bump_credential_revision
from save_server.infrastructure.db.statements import SqlStatements
from save_server.infrastructure.projections.common import UnusablePayload, moment, required
from save_server.infrastructure.registry.tables import (
    registry_revision,
    station_registrations,
    unknown_stations,
)

TYPES = ("registry.station-registered", "registry.station-updated",
         "registry.password-rotated", "registry.password-rotation-rolled-back",
         "registry.previous-password-dropped", "registry.station-deregistered")

STATE = ("charging_station_id", "site_id", "name", "security_profile", "enabled",
         "ocpp_version", "certificate_organization", "passwords", "revision", "registered_at")


def project(sql: SqlStatements, command: ProjectBusinessEvent) -> None:
    db, payload = sql.db, command.payload
    required(payload, "charging_station_id", "revision")
    revision = payload["revision"]
    if not isinstance(revision, int):
        raise UnusablePayload(f"revision {revision!r} is not an integer")
    _follow_revision(db, revision)
    station_id = payload["charging_station_id"]
    t = station_registrations.c
    held = db.execute(select(t.revision).where(t.station_id == station_id)).scalar()
    if held is not None and held >= revision:
        return  # already holds this change or a later one
    if command.event_type == "registry.station-deregistered":
        db.execute(delete(station_registrations).where(t.station_id == station_id))
    else:
        row = _row(payload)
        if held is None:
            db.execute(insert(station_registrations).values(row))
        else:
            db.execute(update(station_registrations).where(t.station_id == station_id)
                       .values(row))
        db.execute(delete(unknown_stations).where(unknown_stations.c.station_id == station_id))
    bump_credential_revision(db)  # viewers' site scopes follow the registry


def _row(payload: Mapping[str, Any]) -> dict[str, Any]:
    required(payload, *STATE)
    if not isinstance(payload["passwords"], list):
        raise UnusablePayload("passwords is not a list")
    return {"station_id": payload["charging_station_id"], "site_id": payload["site_id"],
            "name": payload["name"], "security_profile": payload["security_profile"],
            "enabled": payload["enabled"], "ocpp_version": payload["ocpp_version"],
            "certificate_organization": payload["certificate_organization"],
            "passwords": payload["passwords"], "revision": payload["revision"],
            "registered_at": moment(payload["registered_at"]),
            "evse_types": payload.get("evse_types")}  # absent before 0014_id_tag_groups_evse_types


def _follow_revision(db: Connection, revision: int) -> None:
    """The registry's counter stays at or above every revision applied (new changes made
    after a rebuild must be newer than what the gateways hold)."""
    held = db.execute(select(registry_revision.c.revision)).scalar()
    if held is None:
        db.execute(insert(registry_revision).values(id=1, revision=revision))
    elif held < revision:
        db.execute(update(registry_revision).where(registry_revision.c.id == 1)
                   .values(revision=revision))
