"""The station page: identity, site, editable data, connectors, readings, a 24 h chart, its
charges, its command history and the remote commands (confirmed when disruptive)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from pydantic import ValidationError

from save_server.domain.access import Permission, Principal, command_permission
from save_server.domain.model import InvalidStationData
from save_server.domain.ports import ChargeFilter
from save_server.domain.rules import Measurand
from save_server.domain.station_commands import CommandBusUnavailable, CommandRecord
from save_server.infrastructure.commands.params import PARAMETERS
from save_server.infrastructure.dashboard import charts
from save_server.infrastructure.dashboard.i18n import DEFAULT_TIMEZONE, Formatter
from save_server.infrastructure.dashboard.rendering import language, render
from save_server.infrastructure.dashboard.session import CSRF_FIELD, PageError, page
from save_server.infrastructure.dashboard.station_live import HISTORY_ROWS, station_changes
from save_server.infrastructure.dashboard.views import parse_time, summary
from save_server.service.charges import list_charges
from save_server.service.registry import RegistrationNotFound, SiteNotFound
from save_server.service.station_commands import StationNotFound, UnknownCharge
from save_server.service.stations import update_station_details

router = APIRouter(include_in_schema=False)
Viewer = Annotated[Principal, Depends(page(Permission.STATIONS_READ))]
Writer = Annotated[Principal, Depends(page(Permission.STATIONS_WRITE))]
Sender = Annotated[Principal, Depends(page(Permission.COMMANDS_MAINTENANCE))]
# Commands offered as forms, and those that need a second, confirming step.
OFFERED = ("remote-start", "remote-stop", "reset", "unlock-connector", "change-availability",
           "trigger-message", "clear-cache")
DISRUPTIVE = frozenset({"reset", "unlock-connector", "change-availability", "remote-stop"})
DETAIL_FIELDS = ("name", "address", "latitude", "longitude")


def _document(request: Request, caller: Principal, station_id: str) -> dict[str, Any]:
    found = request.app.state.dependencies.station_reader.document(station_id)
    if found is None or not caller.sees_station(station_id):
        raise PageError(404, f"no charging station {station_id!r}")
    return json.loads(found)  # type: ignore[no-any-return]


def _registration(request: Request, station_id: str) -> tuple[Any, Any]:
    """The station's registration (security profile, OCPP version) and site, if any."""
    registry = request.app.state.registry
    try:
        registration = registry.get_registration(station_id)
    except RegistrationNotFound:
        return None, None
    if registration.site_id is None:
        return registration, None
    try:
        return registration, registry.get_site(registration.site_id)
    except SiteNotFound:
        return registration, None


def _live_context(request: Request, caller: Principal, station_id: str) -> dict[str, Any]:
    """What the page's live parts show: state, connectors, readings, state history."""
    station = _document(request, caller, station_id)
    registration, site = _registration(request, station_id)
    zone = site.timezone if site is not None and site.timezone else DEFAULT_TIMEZONE
    return {"station": station, "registration": registration, "site": site, "zone": zone,
            "live": summary(station, site.site_id if site else None),
            "connectors": [{**c, "status_at": parse_time(c.get("status_at"))}
                           for c in station.get("connectors") or ()],
            "state_history": request.app.state.dashboard_status_history(station_id,
                                                                         HISTORY_ROWS)}


async def _page(request: Request, caller: Principal, station_id: str, status_code: int = 200,
                **extra: Any) -> Response:
    context = await asyncio.to_thread(_live_context, request, caller, station_id)
    deps = request.app.state.dependencies
    recent = await asyncio.to_thread(_recent_charges, deps.charge_reader, caller, station_id)
    history: list[CommandRecord] = []
    if caller.can(Permission.COMMANDS_READ) and hasattr(request.app.state, "station_commands"):
        try:
            history = await request.app.state.station_commands.history(station_id, 20)
        except StationNotFound:
            history = []
    security = await asyncio.to_thread(request.app.state.registry.security_events, station_id,
                                       10)
    return render(request, "station.html", status_code=status_code, **context,
                  security_events=security, charges=recent.charges, history=history,
                  offered=[c for c in OFFERED if caller.can(command_permission(c))],
                  disruptive=DISRUPTIVE, **extra)


def _recent_charges(reader: Any, caller: Principal, station_id: str) -> Any:
    return list_charges(reader, ChargeFilter(station_id, None, None, None, None,
                                             caller.station_scope), None, 20)


def _chart(reader: Any, charges: list[Any], fmt: Formatter, zone: str) -> bytes:
    """The last 24 h of the station's power (kW) and energy per charge (kWh, right axis)."""
    since = datetime.now(UTC) - timedelta(hours=24)
    power: list[tuple[datetime, float]] = []
    energy: list[tuple[datetime, float]] = []
    for charge in charges:
        if (charge.ended_at or datetime.now(UTC)) < since:
            continue
        for sample in reader.meter_values(charge.station_id, charge.transaction_id):
            if sample.measurand == Measurand.POWER and sample.phase is None:
                power.append((sample.at, sample.value / 1000))
            elif sample.measurand == Measurand.ENERGY_REGISTER and charge.meter_start_wh:
                energy.append((sample.at, (sample.value - charge.meter_start_wh) / 1000))
    return charts.svg([charts.Series(fmt.gettext("Power"), "kW", "#0b5cad", sorted(power)),
                       charts.Series(fmt.gettext("Energy per charge"), "kWh", "#8a3b00",
                                     sorted(energy), secondary=True)],
                      datetime.now(UTC), fmt.gettext("Power and energy, last 24 hours"), fmt,
                      zone)


@router.get("/ui/stations/{station_id}")
async def station(request: Request, caller: Viewer, station_id: str) -> Response:
    return await _page(request, caller, station_id)


@router.get("/ui/stations/{station_id}/chart.svg")
async def station_chart(request: Request, caller: Viewer, station_id: str) -> Response:
    """The page's 24 h chart, a standalone SVG (shown by the page with `<img>`)."""
    context = await asyncio.to_thread(_live_context, request, caller, station_id)
    reader = request.app.state.dependencies.charge_reader
    recent = await asyncio.to_thread(_recent_charges, reader, caller, station_id)
    drawing = await asyncio.to_thread(_chart, reader, recent.charges,
                                      Formatter(language(request)), context["zone"])
    return charts.response(drawing)


@router.get("/ui/live/stations/{station_id}")
async def station_stream(request: Request, caller: Viewer, station_id: str) -> Response:
    """Server-sent events: `changed` when the station moved (then fetch `/parts`)."""
    await asyncio.to_thread(_document, request, caller, station_id)
    return StreamingResponse(station_changes(request.app.state.dashboard_feed, station_id),
                             media_type="text/event-stream",
                             headers={"X-Accel-Buffering": "no"})


@router.get("/ui/live/stations/{station_id}/parts")
async def station_parts(request: Request, caller: Viewer, station_id: str) -> Response:
    """The page's live parts alone, for its script to swap in."""
    context = await asyncio.to_thread(_live_context, request, caller, station_id)
    return render(request, "_station_live.html", **context)


@router.post("/ui/stations/{station_id}/data")
async def station_data(request: Request, caller: Writer, station_id: str) -> Response:
    await asyncio.to_thread(_document, request, caller, station_id)
    form = await request.form()
    details: dict[str, Any] = {}
    for name in DETAIL_FIELDS:
        value = str(form.get(name) or "").strip()
        if name in ("latitude", "longitude"):
            try:
                details[name] = float(value.replace(",", ".")) if value else None
            except ValueError:
                return await _page(request, caller, station_id, 422,
                                   data_error=f"{name}: not a number")
        else:
            details[name] = value or None
    try:
        await asyncio.to_thread(update_station_details, request.app.state.dependencies.uow_factory,
                                station_id, details, caller.audit_name)
    except InvalidStationData as error:
        return await _page(request, caller, station_id, 422,
                           data_error=f"{error.field_name}: {error}")
    return RedirectResponse(f"/ui/stations/{station_id}?saved=1", 303)


def _parameters(command: str, form: Any) -> dict[str, Any]:
    raw = {k: v for k, v in form.items() if k not in (CSRF_FIELD, "confirmed") and v != ""}
    return PARAMETERS[command].model_validate(raw).to_message()


@router.post("/ui/stations/{station_id}/commands/{command}")
async def send_command(request: Request, caller: Sender, station_id: str,
                       command: str) -> Response:
    if command not in OFFERED:
        raise PageError(404, f"no command {command!r} here")
    if not caller.can(command_permission(command)):
        raise PageError(403, f"your role ({caller.role.value}) may not send {command}")
    await asyncio.to_thread(_document, request, caller, station_id)
    form = await request.form()
    try:
        parameters = _parameters(command, form)
    except ValidationError as error:
        message = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                            for e in error.errors(include_url=False))
        return await _page(request, caller, station_id, 422, command_error=message)
    if command in DISRUPTIVE and form.get("confirmed") != "yes":
        return render(request, "confirm.html", station_id=station_id, command=command,
                      fields={k: v for k, v in form.items()
                              if k not in (CSRF_FIELD, "confirmed")})
    commands = request.app.state.station_commands
    try:
        record = await commands.send(station_id, command, parameters, caller.audit_name)
    except UnknownCharge as error:
        return await _page(request, caller, station_id, 422, command_error=str(error))
    except CommandBusUnavailable as error:
        return await _page(request, caller, station_id, 503, command_error=str(error))
    except StationNotFound as error:
        raise PageError(404, str(error)) from error
    return await _page(request, caller, station_id, answer=record)
