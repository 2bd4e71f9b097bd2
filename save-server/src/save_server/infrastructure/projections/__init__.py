"""save-server's tables as a projection of its own business events (docs/architecture.md,
"What a replay rebuilds"): every change an API makes commits with its event (the outbox) and
is recorded as applied, so live its delivery back is a duplicate; after the database was wiped,
a replay applies the events again and rebuilds the same rows.

One family per line below. A family is a module with `TYPES` (the event types it applies) and
`project(sql, command)`; adding one = writing that module and adding its line. Its types are
then bound to save-server's queue, applied by the worker in order and once per event id, and
recorded as applied when an API writes them (`outbox.writer.add_to_outbox`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from save_server.domain.commands import ProjectBusinessEvent
from save_server.domain.ports import Projections
from save_server.infrastructure.db.statements import SqlStatements
from save_server.infrastructure.projections import (
    accounts,
    commands,
    id_tags,
    load_management,
    registry,
    reports,
    sites,
)


@dataclass(frozen=True)
class Family:
    types: tuple[str, ...]
    project: Callable[[SqlStatements, ProjectBusinessEvent], None]


FAMILIES: dict[str, Family] = {
    "accounts": Family(accounts.TYPES, accounts.project),
    "reports": Family(reports.TYPES, reports.project),
    "sites": Family(sites.TYPES, sites.project),
    "registry": Family(registry.TYPES, registry.project),
    "commands": Family(commands.TYPES, commands.project),
    "id-tags": Family(id_tags.TYPES, id_tags.project),
    "load-management": Family(load_management.TYPES, load_management.project),
}

PROJECTED_TYPES: frozenset[str] = frozenset(
    event_type for family in FAMILIES.values() for event_type in family.types)


class SqlProjections(Projections):
    """Applies projected events on the unit of work's connection (its transaction)."""

    def __init__(self, sql: SqlStatements) -> None:
        self._sql = sql

    def apply(self, command: ProjectBusinessEvent) -> None:
        family = FAMILIES[command.event_type.split(".", 1)[0]]
        family.project(self._sql, command)


__all__ = ["FAMILIES", "PROJECTED_TYPES", "Family", "SqlProjections"]
