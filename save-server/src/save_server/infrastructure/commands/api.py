"""Remote commands: `POST /charging-stations/{id}/commands/{command}` and the history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from save_server.domain.access import Permission, Principal, command_permission
from save_server.domain.station_commands import CommandBusUnavailable, CommandRecord
from save_server.infrastructure.api.errors import invalid
from save_server.infrastructure.api.security import allow
from save_server.infrastructure.commands.params import EXAMPLES, PARAMETERS, CommandName
from save_server.service.station_commands import StationCommands, StationNotFound, UnknownCharge

router = APIRouter(tags=["remote commands"])


async def _commands(request: Request) -> StationCommands:
    """async: FastAPI would run a plain function in a worker thread (a thread hop per call)."""
    return request.app.state.station_commands  # type: ignore[no-any-return]


Commands = Annotated[StationCommands, Depends(_commands)]
# Every command needs at least the maintenance permission; charging commands need more.
Sender = Annotated[Principal, allow(Permission.COMMANDS_MAINTENANCE)]
Reader = Annotated[Principal, allow(Permission.COMMANDS_READ)]


class CommandOut(BaseModel):
    command_id: str
    charging_station_id: str
    command: str
    parameters: dict[str, Any]
    requested_by: str
    requested_at: datetime
    answered_at: datetime | None
    outcome: str
    status: str | None
    payload: dict[str, Any] | None
    error_code: str | None
    error_description: str | None
    latency_ms: float | None
    ocpp_version: str | None
    action: str | None

    @classmethod
    def of(cls, record: CommandRecord) -> CommandOut:
        return cls(command_id=record.command_id, charging_station_id=record.station_id,
                   command=record.command, parameters=record.parameters,
                   requested_by=record.requested_by, requested_at=record.requested_at,
                   answered_at=record.answered_at, outcome=record.outcome.value,
                   status=record.status, payload=record.payload, error_code=record.error_code,
                   error_description=record.error_description, latency_ms=record.latency_ms,
                   ocpp_version=record.ocpp_version, action=record.action)


# outcome → (HTTP status, detail); 200 answers carry no detail
FAILURES: dict[str, tuple[int, str]] = {
    "call_error": (502, "the charging station answered with a CallError"),
    "timeout": (504, "the charging station did not answer in time"),
    "not_connected": (409, "the charging station is not connected to any gateway"),
}

RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"description": "Your role may not send this command"},
    404: {"description": "Unknown station"},
    409: {"description": "Station not connected (answered at once)"},
    422: {"description": "Bad parameters, or a command the station's OCPP version lacks"},
    502: {"description": "The station answered with a CallError (error_code, "
                         "error_description)"},
    503: {"description": "The broker is unreachable; nothing was sent"},
    504: {"description": "No answer within the timeout"},
}


def _parameters(command: str, body: dict[str, Any] | None) -> dict[str, Any]:
    try:
        return PARAMETERS[command].model_validate(body or {}).to_message()
    except ValidationError as error:
        raise RequestValidationError([
            {"loc": ("body", *e["loc"]), "msg": e["msg"], "type": e["type"]}
            for e in error.errors(include_url=False)]) from error


@router.post("/charging-stations/{station_id}/commands/{command}", response_model=CommandOut,
             responses=RESPONSES)
async def send_command(
    commands: Commands, caller: Sender, station_id: str, command: CommandName,
    body: Annotated[dict[str, Any] | None, Body(
        description="The command's version-neutral parameters (docs/commands.md)",
        openapi_examples={name: {"summary": name, "value": value}
                          for name, value in EXAMPLES.items()})] = None,
    timeout: Annotated[float | None, Query(
        gt=0, description="Seconds to wait for the answer; at most SAVE_SERVER_COMMAND_TIMEOUT"
    )] = None,
) -> Any:
    """Send a command to the station and answer with the station's answer. The history
    records the authenticated caller as `requested_by`."""
    needed = command_permission(command.value)
    if not caller.can(needed):
        raise HTTPException(403, f"your role ({caller.role.value}) lacks {needed.value}")
    parameters = _parameters(command.value, body)
    try:
        if not caller.sees_station(station_id):
            raise StationNotFound(station_id)
        record = await commands.send(station_id, command.value, parameters,
                                     caller.audit_name, timeout)
    except StationNotFound as error:
        raise HTTPException(404, str(error)) from error
    except UnknownCharge as error:
        raise invalid("body", "charge_id", str(error)) from error
    except CommandBusUnavailable as error:
        raise HTTPException(503, str(error)) from error
    if record.outcome.value in ("accepted", "rejected"):
        return CommandOut.of(record)
    out = jsonable_encoder(CommandOut.of(record))
    if record.outcome.value == "unsupported":
        return JSONResponse(status_code=422, content={
            "detail": [{"loc": ["path", "command"], "msg": record.error_description
                        or f"not supported by OCPP {record.ocpp_version}",
                        "type": "value_error"}], "command": out})
    if record.outcome.value in FAILURES:
        status, detail = FAILURES[record.outcome.value]
        return JSONResponse(status_code=status, content={"detail": detail, **out})
    raise HTTPException(500, f"unexpected outcome {record.outcome.value}")


@router.get("/charging-stations/{station_id}/commands", response_model=list[CommandOut],
            responses={404: RESPONSES[404]})
async def command_history(commands: Commands, caller: Reader, station_id: str,
                          limit: Annotated[int, Query(ge=1, le=1000, description="Newest first")
                                           ] = 100) -> list[CommandOut]:
    """Commands sent to the station: who, when, parameters, outcome, latency."""
    try:
        if not caller.sees_station(station_id):
            raise StationNotFound(station_id)
        return [CommandOut.of(r) for r in await commands.history(station_id, limit)]
    except StationNotFound as error:
        raise HTTPException(404, str(error)) from error
