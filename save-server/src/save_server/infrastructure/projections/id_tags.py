"""`id-tags.*`: tags and groups, applied back by the id tag context's own projection."""

from __future__ import annotations

from save_server.domain.commands import ProjectBusinessEvent
from save_server.infrastructure.db.statements import SqlStatements
from save_server.infrastructure.id_tags import projection

TYPES = projection.TYPES


def project(sql: SqlStatements, command: ProjectBusinessEvent) -> None:
    projection.project(sql.db, command.event_type, command.payload, command.occurred_at)
