"""`GET /charging-stations/{id}/local-list`: the station's local authorization list as the
platform knows it, and the latest SendLocalList messages with the station's answers."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel

from save_server.domain.access import Permission, Principal
from save_server.domain.id_tags import token_key
from save_server.domain.local_lists import LocalListSend, LocalListState, LocalListStore
from save_server.infrastructure.api.security import allow
from save_server.infrastructure.id_tags.http import service, tag_scope

router = APIRouter(tags=["id tags"])
Reader = Annotated[Principal, allow(Permission.ID_TAGS_READ)]


class EntryOut(BaseModel):
    id_tag: str
    status: str
    expires_at: datetime | None
    parent_id_tag: str | None
    token_type: str


class SendOut(BaseModel):
    command_id: str
    list_version: int
    update_type: str
    entries: int
    part: int
    parts: int
    sent_at: datetime
    outcome: str
    status: str | None
    reason: str

    @classmethod
    def of(cls, send: LocalListSend) -> SendOut:
        return cls(command_id=send.command_id, list_version=send.version,
                   update_type=send.update_type.value, entries=send.entries, part=send.part,
                   parts=send.parts, sent_at=send.sent_at, outcome=send.outcome,
                   status=send.status, reason=send.reason)


class LocalListOut(BaseModel):
    charging_station_id: str
    support: str
    ocpp_version: str | None
    enabled: bool | None
    max_list_size: int | None
    max_per_message: int | None
    last_version: int
    acknowledged_version: int | None
    in_sync: bool  # we know what the station holds (else its next update is a full one)
    clear_cache_pending: bool
    updated_at: datetime | None
    entries: list[EntryOut] | None  # what it holds, as far as we know (None: unknown)
    sends: list[SendOut]

    @classmethod
    def of(cls, state: LocalListState, sends: list[LocalListSend],
           visible: set[str] | None = None) -> LocalListOut:
        """`visible`: the keys of the id tags the caller sees (None: every tag)."""
        held = None if state.held is None else [
            EntryOut(id_tag=e.id_tag, status=e.status.value, expires_at=e.expires_at,
                     parent_id_tag=e.parent_id_tag, token_type=e.token_type)
            for e in sorted(state.held.values(), key=lambda e: e.id_tag.casefold())
            if visible is None or token_key(e.id_tag) in visible]
        return cls(charging_station_id=state.station_id, support=state.support.value,
                   ocpp_version=state.ocpp_version, enabled=state.enabled,
                   max_list_size=state.max_list_size, max_per_message=state.max_per_message,
                   last_version=state.last_version,
                   acknowledged_version=state.acknowledged_version,
                   in_sync=state.held is not None,
                   clear_cache_pending=state.clear_cache_pending,
                   updated_at=state.updated_at, entries=held,
                   sends=[SendOut.of(s) for s in sends])


async def _store(request: Request) -> LocalListStore:
    return request.app.state.local_lists  # type: ignore[no-any-return]


@router.get("/charging-stations/{station_id}/local-list", response_model=LocalListOut,
            responses={404: {"description": "Unknown station, or outside your scope"}})
async def local_list(request: Request, caller: Reader, station_id: str,
                     sends: Annotated[int, Query(ge=0, le=1000,
                                                 description="Latest sends, newest first")
                                      ] = 50) -> LocalListOut:
    """What the station's local list holds as far as the platform knows (support, versions,
    limits, entries) and the latest SendLocalList messages with the station's answers."""
    store = await _store(request)
    if not caller.sees_station(station_id) or not await asyncio.to_thread(
            store.station_known, station_id):
        raise HTTPException(404, f"no charging station {station_id!r}")
    state = await asyncio.to_thread(store.get, station_id) or LocalListState(station_id)
    history = await asyncio.to_thread(store.sends, station_id, sends) if sends else []
    return LocalListOut.of(state, history, await asyncio.to_thread(_visible, request, caller))


def _visible(request: Request, caller: Principal) -> set[str] | None:
    """A scoped caller sees the entries of the tags it sees (id_tags/api.py, "Scope")."""
    scope = tag_scope(request, caller)
    if scope is None:
        return None
    return {t.key for t in service(request).all_tags() if scope.sees(t)}
