"""What the id tag routers share: permissions, the service, error answers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import HTTPException, Request

from save_server.domain.access import Permission, Principal
from save_server.domain.id_tags import GroupInUse, InvalidIdTag, TagScope
from save_server.infrastructure.api.errors import invalid
from save_server.infrastructure.api.security import allow
from save_server.infrastructure.registry.api import visible_sites
from save_server.service.id_tags import AlreadyExists, GroupNotFound, IdTagService, TagNotFound

Reader = Annotated[Principal, allow(Permission.ID_TAGS_READ)]
Writer = Annotated[Principal, allow(Permission.ID_TAGS_WRITE)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Unknown id tag or group"}}


def service(request: Request) -> IdTagService:
    return request.app.state.id_tags  # type: ignore[no-any-return]


def errors(error: Exception) -> HTTPException:
    if isinstance(error, InvalidIdTag):
        return invalid("body", error.field_name, str(error))
    if isinstance(error, TagNotFound | GroupNotFound):
        return HTTPException(404, str(error))
    if isinstance(error, AlreadyExists | GroupInUse):
        return HTTPException(409, str(error))
    raise error


def tag_scope(request: Request, caller: Principal) -> TagScope | None:
    """The id tags a scoped caller sees (None: unscoped, every tag): its sites, named or of
    its stations in the registry, its stations, and the tags that charged at them."""
    sites = visible_sites(request.app.state.registry, caller)
    if sites is None or caller.station_scope is None:
        return None
    stations = frozenset(caller.station_scope)
    return TagScope(frozenset(sites), stations, frozenset(
        service(request).keys_charged_at(stations)))


def unscoped(caller: Principal) -> None:
    if caller.station_scope is not None:
        raise HTTPException(403, "id tags are changed by accounts without a site/station scope")


