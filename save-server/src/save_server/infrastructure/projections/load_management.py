"""`load-management.*`: sites' electrical models and building loads. Allocations are not
applied back: the allocator recomputes them from the state (docs/load-management.md)."""

from __future__ import annotations

from save_server.domain.commands import ProjectBusinessEvent
from save_server.domain.load.documents import load_from_document, model_from_document
from save_server.infrastructure.db.statements import SqlStatements
from save_server.infrastructure.load.store import put_load, put_model_if_newer
from save_server.infrastructure.projections.common import UnusablePayload
from save_server.service.load_management import MEASURED, MODEL_SET

TYPES = (MODEL_SET, MEASURED)


def project(sql: SqlStatements, command: ProjectBusinessEvent) -> None:
    try:
        if command.event_type == MODEL_SET:
            put_model_if_newer(sql.db, model_from_document(command.payload),
                               command.occurred_at)
        else:
            put_load(sql.db, str(command.payload["site_id"]),
                     load_from_document(command.payload))
    except (KeyError, TypeError, ValueError) as error:
        raise UnusablePayload(f"{command.event_type}: {error}") from error
