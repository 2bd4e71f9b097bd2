"""Sites (`/sites`) and the station registry (`/charging-stations` registration, unknown
stations, password rotation). Declared before the stations router: its fixed paths
(`/charging-stations/unknown`, `/charging-stations/registrations`) win over `{station_id}`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from save_server.domain.access import Permission, Principal
from save_server.domain.registry import AlreadyRegistered, InvalidRegistryData, SiteInUse
from save_server.infrastructure.api.errors import invalid
from save_server.infrastructure.api.security import allow
from save_server.service.password_rotation import rotate_password
from save_server.service.registry import (
    Registered,
    RegistrationConflict,
    RegistrationNotFound,
    RegistryService,
    SiteNotFound,
    registration_document,
)

router = APIRouter(tags=["sites and station registry"])
Reader = Annotated[Principal, allow(Permission.STATIONS_READ)]
Manager = Annotated[Principal, allow(Permission.STATIONS_WRITE)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Unknown site or station"}}
Profile = Literal[0, 1, 2, 3]
CONFLICT = {"description": "Not changed: other writes kept changing the registration meanwhile"}


def _registry(request: Request) -> RegistryService:
    return request.app.state.registry  # type: ignore[no-any-return]


class SiteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    address: str | None = Field(default=None, max_length=500)
    timezone: str = Field(default="America/Sao_Paulo", max_length=64)
    latitude: float | None = None
    longitude: float | None = None


class SitePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    address: str | None = Field(default=None, max_length=500)
    timezone: str | None = Field(default=None, max_length=64)
    latitude: float | None = None
    longitude: float | None = None


EvseTypes = Annotated[dict[str, Literal["AC", "DC"]] | None, Field(
    default=None, max_length=999, examples=[{"1": "DC", "2": "AC"}], description=(
        "What each EVSE delivers (EVSE id → AC or DC; a 1.6 connector is an EVSE): id tags "
        "restricted to a type are refused at the others (NotAllowedTypeEVSE); null: none "
        "declared"))]


class RegistrationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    charging_station_id: str = Field(min_length=1, max_length=48)
    security_profile: Profile
    site_id: str | None = Field(default=None, max_length=36)
    name: str | None = Field(default=None, max_length=200)
    ocpp_version: Literal["1.6", "2.0.1", "2.1"] | None = None
    certificate_organization: str | None = Field(default=None, max_length=200)
    evse_types: EvseTypes = None


class RegistrationPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    security_profile: Profile | None = None
    site_id: str | None = Field(default=None, max_length=36)
    name: str | None = Field(default=None, max_length=200)
    enabled: bool | None = None
    ocpp_version: Literal["1.6", "2.0.1", "2.1"] | None = None
    certificate_organization: str | None = Field(default=None, max_length=200)
    evse_types: EvseTypes = None


class AdoptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    security_profile: Profile = 1
    site_id: str | None = Field(default=None, max_length=36)
    name: str | None = Field(default=None, max_length=200)


def _document(registered: Registered) -> dict[str, Any]:
    body = registration_document(registered.registration)
    if registered.password is not None:
        body["password"] = registered.password  # shown this once
        body["basic_auth_username"] = registered.registration.station_id
    return body


def _answer(registered: Registered, status: int = 200) -> JSONResponse:
    return JSONResponse(jsonable_encoder(_document(registered)), status_code=status)


def _errors(error: Exception) -> HTTPException:
    if isinstance(error, InvalidRegistryData):
        return invalid("body", error.field_name, str(error))
    if isinstance(error, SiteNotFound | RegistrationNotFound):
        return HTTPException(404, str(error))
    if isinstance(error, AlreadyRegistered | SiteInUse | RegistrationConflict):
        return HTTPException(409, str(error))
    raise error


# sites ------------------------------------------------------------------------------------
def visible_sites(registry: RegistryService, caller: Principal) -> set[str] | None:
    """A scoped caller sees the sites of its scope and those of the stations it sees."""
    if caller.station_scope is None:
        return None
    return set(caller.site_scope or ()) | {
        r.site_id for r in registry.list_registrations()
        if r.site_id is not None and caller.sees_station(r.station_id)}


@router.get("/sites")
def list_sites(request: Request, caller: Reader) -> list[dict[str, Any]]:
    registry = _registry(request)
    visible = visible_sites(registry, caller)
    return [s.document() for s in registry.list_sites()
            if visible is None or s.site_id in visible]


@router.post("/sites", status_code=201)
def create_site(request: Request, caller: Manager, body: SiteIn) -> dict[str, Any]:
    try:
        fields = body.model_dump()
        name = fields.pop("name")
        return _registry(request).create_site(name, caller.audit_name, **fields).document()
    except InvalidRegistryData as error:
        raise _errors(error) from error


@router.get("/sites/{site_id}", responses=NOT_FOUND)
def get_site(request: Request, caller: Reader, site_id: str) -> dict[str, Any]:
    registry = _registry(request)
    try:
        visible = visible_sites(registry, caller)
        if visible is not None and site_id not in visible:
            raise SiteNotFound(f"no site {site_id}")
        return registry.get_site(site_id).document()
    except SiteNotFound as error:
        raise _errors(error) from error


@router.patch("/sites/{site_id}", responses=NOT_FOUND)
def update_site(request: Request, caller: Manager, site_id: str,
                body: SitePatch) -> dict[str, Any]:
    try:
        return _registry(request).update_site(
            site_id, body.model_dump(include=body.model_fields_set), caller.audit_name
        ).document()
    except (InvalidRegistryData, SiteNotFound) as error:
        raise _errors(error) from error


@router.delete("/sites/{site_id}", status_code=204,
               responses={**NOT_FOUND, 409: {"description": "Stations belong to the site"}})
def delete_site(request: Request, caller: Manager, site_id: str) -> Response:
    try:
        _registry(request).delete_site(site_id, caller.audit_name)
    except (SiteNotFound, SiteInUse) as error:
        raise _errors(error) from error
    return Response(status_code=204)


# registrations ----------------------------------------------------------------------------
@router.get("/charging-stations/registrations")
def list_registrations(request: Request, caller: Reader) -> list[dict[str, Any]]:
    """Every registered station: profile, site, enabled, whether a rotation is pending."""
    return [registration_document(r) for r in _registry(request).list_registrations()
            if caller.sees_station(r.station_id)]


@router.get("/charging-stations/unknown")
def list_unknown(request: Request, caller: Manager) -> list[dict[str, Any]]:
    """Ids that tried to connect unregistered: first/last attempt, attempts, address."""
    return [jsonable_encoder(u.__dict__) for u in _registry(request).unknown_stations()]


@router.post("/charging-stations", status_code=201,
             responses={409: {"description": "Already registered"}})
def register(request: Request, caller: Manager, body: RegistrationIn) -> JSONResponse:
    """Register a station before it connects. Profiles 1 and 2 get a generated password,
    shown once in this answer (Basic Auth username = the station id)."""
    fields = body.model_dump()
    station_id, profile = fields.pop("charging_station_id"), fields.pop("security_profile")
    try:
        return _answer(_registry(request).register(station_id, profile, caller.audit_name,
                                                   **fields), 201)
    except (InvalidRegistryData, AlreadyRegistered) as error:
        raise _errors(error) from error


@router.post("/charging-stations/unknown/{station_id}/adopt", status_code=201,
             responses={409: {"description": "Already registered"}})
def adopt(request: Request, caller: Manager, station_id: str, body: AdoptIn) -> JSONResponse:
    try:
        return _answer(_registry(request).adopt(station_id, body.security_profile,
                                                caller.audit_name, site_id=body.site_id,
                                                name=body.name), 201)
    except (InvalidRegistryData, AlreadyRegistered) as error:
        raise _errors(error) from error


@router.get("/charging-stations/{station_id}/security-events", responses=NOT_FOUND)
def security_events(request: Request, caller: Reader, station_id: str,
                    limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[dict[str, Any]]:
    """What the station reported about its own security (SecurityEventNotification: e.g.
    firmware updated, settings changed, invalid certificates), newest first."""
    if not caller.sees_station(station_id):
        raise HTTPException(404, f"no charging station {station_id!r}")
    return [jsonable_encoder(e.__dict__) for e in
            _registry(request).security_events(station_id, limit)]


@router.get("/charging-stations/{station_id}/registration", responses=NOT_FOUND)
def get_registration(request: Request, caller: Reader, station_id: str) -> dict[str, Any]:
    try:
        if not caller.sees_station(station_id):
            raise RegistrationNotFound(f"station {station_id!r} is not registered")
        return registration_document(_registry(request).get_registration(station_id))
    except RegistrationNotFound as error:
        raise _errors(error) from error


@router.patch("/charging-stations/{station_id}/registration",
              responses={**NOT_FOUND, 409: CONFLICT})
def update_registration(request: Request, caller: Manager, station_id: str,
                        body: RegistrationPatch) -> JSONResponse:
    """Changes the fields given; a write that changed the registration meanwhile (a password
    rotation) keeps what it changed."""
    changes = body.model_dump(include=body.model_fields_set)
    if not changes:
        raise invalid("body", "enabled", "give at least one field to change")
    try:
        return _answer(_registry(request).update(station_id, changes, caller.audit_name))
    except (InvalidRegistryData, RegistrationNotFound, RegistrationConflict) as error:
        raise _errors(error) from error


@router.delete("/charging-stations/{station_id}", status_code=204, responses=NOT_FOUND)
def deregister(request: Request, caller: Manager, station_id: str) -> Response:
    """The station may no longer connect (a connected one is closed by its gateway); its
    charges and history stay."""
    try:
        _registry(request).deregister(station_id, caller.audit_name)
    except RegistrationNotFound as error:
        raise _errors(error) from error
    return Response(status_code=204)


@router.post("/charging-stations/{station_id}/password",
             responses={**NOT_FOUND, 409: {"description": "Not changed: the station refused "
                                                          "it or is not connected, or other "
                                                          "writes kept changing the "
                                                          "registration"},
                        504: {"description": "No answer: both passwords work for the grace "
                                           "period"}})
async def rotate(request: Request, caller: Manager, station_id: str) -> JSONResponse:
    """A new password, pushed to the connected station (1.6 ChangeConfiguration
    AuthorizationKey, 2.0.1 SetVariables SecurityCtrlr.BasicAuthPassword). Refused or not
    delivered: rolled back, the old password stays (409). Accepted: the new one is shown
    once; the old one works until the station reconnects with the new one or 24 h pass."""
    registry = _registry(request)
    try:
        registry.get_registration(station_id)
        result = await rotate_password(registry, request.app.state.station_commands,
                                       station_id, caller.audit_name)
    except (InvalidRegistryData, RegistrationNotFound, RegistrationConflict) as error:
        raise _errors(error) from error
    command = jsonable_encoder(result.command.__dict__) if result.command else None
    if result.registered is None:
        return JSONResponse({"detail": result.detail, "outcome": result.outcome,
                             "command": command}, status_code=409)
    body = {**_document(result.registered), "outcome": result.outcome,
            "detail": result.detail, "command": command}
    return JSONResponse(jsonable_encoder(body),
                        status_code=200 if result.outcome == "pushed" else 504)
