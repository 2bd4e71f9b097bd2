"""The station registry page: sites (with their time zones), registered stations, and the
unknown ids the gateways refused, with adoption (the same use cases and scope rules as
/sites, /charging-stations/registrations and /charging-stations/unknown)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from save_server.domain.access import Permission, Principal
from save_server.domain.registry import PROFILES, AlreadyRegistered, InvalidRegistryData
from save_server.infrastructure.dashboard.rendering import render
from save_server.infrastructure.dashboard.session import PageError, page
from save_server.infrastructure.registry.api import visible_sites
from save_server.service.registry import RegistryService

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(page(Permission.STATIONS_READ))]
Manager = Annotated[Principal, Depends(page(Permission.STATIONS_WRITE))]


def _view(registry: RegistryService, caller: Principal) -> dict[str, object]:
    visible = visible_sites(registry, caller)
    sites = [s for s in registry.list_sites() if visible is None or s.site_id in visible]
    registrations = [r for r in registry.list_registrations()
                     if caller.sees_station(r.station_id)]
    unknown = (registry.unknown_stations() if caller.can(Permission.STATIONS_WRITE) else [])
    return {"sites": sites, "site_names": {s.site_id: s.name for s in sites},
            "registrations": registrations, "unknown": unknown, "profiles": PROFILES}


@router.get("/ui/registry")
async def registry_page(request: Request, caller: Reader) -> Response:
    view = await asyncio.to_thread(_view, request.app.state.registry, caller)
    return render(request, "registry.html", adopted=None, **view)


@router.post("/ui/registry/unknown/{station_id}/adopt")
async def adopt(request: Request, caller: Manager, station_id: str) -> Response:
    registry: RegistryService = request.app.state.registry
    form = await request.form()
    try:
        profile = int(str(form.get("security_profile") or "1"))
    except ValueError as error:
        raise PageError(400, "security_profile: 0 to 3") from error
    if profile not in PROFILES:
        raise PageError(400, "security_profile: 0 to 3")
    site_id = str(form.get("site_id") or "") or None
    name = str(form.get("name") or "").strip() or None
    try:
        adopted = await asyncio.to_thread(registry.adopt, station_id, profile,
                                          caller.audit_name, site_id=site_id, name=name)
    except InvalidRegistryData as error:
        raise PageError(422, f"{error.field_name}: {error}") from error
    except AlreadyRegistered as error:
        raise PageError(409, str(error)) from error
    view = await asyncio.to_thread(_view, registry, caller)
    return render(request, "registry.html", adopted=adopted, **view)
