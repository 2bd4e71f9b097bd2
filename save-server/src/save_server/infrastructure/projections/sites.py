"""`sites.*` back into sites (each event carries the site whole)."""

from __future__ import annotations

from sqlalchemy import delete, insert, update

from save_server.domain.commands import ProjectBusinessEvent
from save_server.infrastructure.db.statements import SqlStatements
from save_server.infrastructure.projections.common import required
from save_server.infrastructure.registry.tables import sites

TYPES = ("sites.site-created", "sites.site-updated", "sites.site-deleted")

FIELDS = ("site_id", "name", "address", "timezone", "latitude", "longitude")


def project(sql: SqlStatements, command: ProjectBusinessEvent) -> None:
    db, payload = sql.db, command.payload
    required(payload, "site_id")
    if command.event_type == "sites.site-deleted":
        db.execute(delete(sites).where(sites.c.site_id == payload["site_id"]))
        return
    required(payload, *FIELDS)
    row = {name: payload[name] for name in FIELDS}
    if not db.execute(update(sites).where(sites.c.site_id == row["site_id"])
                      .values(row)).rowcount:
        db.execute(insert(sites).values(row))
