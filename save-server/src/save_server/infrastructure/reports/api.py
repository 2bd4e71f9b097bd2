"""HTTP API of the reports: subscriptions (CRUD), runs, retry, send-now, CSV download."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from save_server.domain.access import Permission, Principal
from save_server.domain.reports import (
    DEFAULT_SCHEDULE,
    DEFAULT_TIMEZONE,
    InvalidReportInput,
    ReportFilter,
    ReportRun,
    ReportSubscription,
    ReportWindow,
    RunState,
    RunTrigger,
    SubscriptionOrigin,
    validate_recipients,
    validate_timezone,
)
from save_server.infrastructure.api.errors import RowId, RowIdQuery, invalid
from save_server.infrastructure.api.security import allow
from save_server.infrastructure.reports.csv_report import csv_chunks
from save_server.service.reports import (
    ReportService,
    RunConflict,
    RunNotFound,
    SubscriptionNotFound,
    schedule_of,
    validate_schedule,
)

router = APIRouter(tags=["reports"])


def _service(request: Request) -> ReportService:
    return request.app.state.reports  # type: ignore[no-any-return]


Reports = Annotated[ReportService, Depends(_service)]
READ = allow(Permission.REPORTS_READ)


def network_wide(caller: Principal) -> Principal:
    """Subscriptions and runs cover the whole network (other buildings' recipients, every
    group's usage): an account scoped to sites/stations has none of them."""
    if caller.station_scope is not None:
        raise HTTPException(403, "report subscriptions are for accounts without a "
                                 "site/station scope")
    return caller


def _subscriptions_reader(caller: Annotated[Principal, READ]) -> Principal:
    return network_wide(caller)


def _subscriptions_writer(
        caller: Annotated[Principal, allow(Permission.REPORTS_WRITE)]) -> Principal:
    return network_wide(caller)


SUBSCRIPTIONS_READ = Depends(_subscriptions_reader)
WRITE = Depends(_subscriptions_writer)
Writer = Annotated[Principal, WRITE]  # the subscription events name who changed it


class _Validated(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("recipients", check_fields=False)
    @classmethod
    def _recipients(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else list(validate_recipients(value))

    @field_validator("schedule", check_fields=False)
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        return None if value is None else validate_schedule(value)

    @field_validator("timezone", check_fields=False)
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if value is not None:
            validate_timezone(value)
        return value


class SubscriptionIn(_Validated):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "recipients": ["admin@example.org"], "schedule": DEFAULT_SCHEDULE,
        "timezone": DEFAULT_TIMEZONE, "station_ids": [], "id_tags": []}]})

    recipients: list[str] = Field(description="One or more e-mail addresses")
    schedule: str = Field(DEFAULT_SCHEDULE, description="5-field cron, in `timezone`")
    timezone: str = Field(DEFAULT_TIMEZONE, description="IANA time zone")
    station_ids: list[str] = Field(default_factory=list, description="Only these stations")
    id_tags: list[str] = Field(default_factory=list, description="Only these RFIDs")
    enabled: bool = True
    groups: list[str] = Field(default_factory=list, description=(
        "Only the charges of these id tag groups (422 for an unknown group)"))
    group_usage: bool = Field(False, description=(
        "Also the id tag groups' energy in the month of the window's end (those of `groups`,"
        " else every group), as a section and a CSV"))


class SubscriptionPatch(_Validated):
    recipients: list[str] | None = None
    schedule: str | None = None
    timezone: str | None = None
    station_ids: list[str] | None = None
    id_tags: list[str] | None = None
    enabled: bool | None = None
    groups: list[str] | None = None
    group_usage: bool | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> SubscriptionPatch:
        if not self.model_fields_set:
            raise ValueError("give at least one field to change")
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} may not be null")
        return self


class SubscriptionOut(BaseModel):
    id: int
    recipients: list[str]
    schedule: str
    timezone: str
    station_ids: list[str]
    id_tags: list[str]
    enabled: bool
    groups: list[str]
    group_usage: bool
    origin: SubscriptionOrigin
    created_at: datetime
    updated_at: datetime
    next_run_at: datetime | None

    @classmethod
    def of(cls, s: ReportSubscription, now: datetime) -> SubscriptionOut:
        assert s.id is not None and s.created_at and s.updated_at
        return cls(id=s.id, recipients=list(s.recipients), schedule=s.schedule,
                   timezone=s.timezone, station_ids=list(s.station_ids),
                   id_tags=list(s.id_tags), enabled=s.enabled, groups=list(s.groups),
                   group_usage=s.group_usage, origin=s.origin,
                   created_at=s.created_at, updated_at=s.updated_at,
                   next_run_at=schedule_of(s).next_after(now) if s.enabled else None)


class RunOut(BaseModel):
    id: int
    subscription_id: int
    window_start: datetime
    window_end: datetime
    trigger: RunTrigger
    state: RunState
    attempts: int
    last_error: str | None
    sent_at: datetime | None
    charge_count: int | None
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def of(cls, run: ReportRun) -> RunOut:
        assert run.id is not None
        return cls(id=run.id, subscription_id=run.subscription_id,
                   window_start=run.window.start, window_end=run.window.end,
                   trigger=run.trigger, state=run.state, attempts=run.attempts,
                   last_error=run.last_error, sent_at=run.sent_at,
                   charge_count=run.charge_count, created_at=run.created_at,
                   updated_at=run.updated_at)


class WindowIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "start": "2026-11-15T23:00:00-03:00", "end": "2026-11-22T23:00:00-03:00"}]})

    start: datetime = Field(description="Inclusive; ISO 8601 (naive = UTC)")
    end: datetime = Field(description="Exclusive; ISO 8601 (naive = UTC)")


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _window(start: datetime, end: datetime, location: str, start_name: str,
            end_name: str) -> ReportWindow:
    start, end = _utc(start), _utc(end)
    if start >= end:
        raise invalid(location, end_name, f"{end_name} must be after {start_name}")
    return ReportWindow(start, end)


def _not_found(error: LookupError) -> HTTPException:
    return HTTPException(404, str(error))


def _rejected(error: InvalidReportInput) -> HTTPException:
    return invalid("body", error.field_name, error.message)


@router.post("/report-subscriptions", status_code=201, response_model=SubscriptionOut)
def create_subscription(caller: Writer, reports: Reports,
                        body: SubscriptionIn) -> SubscriptionOut:
    """A new report subscription; 422 names the field of a bad address, cron or time zone."""
    try:
        created = reports.create_subscription(**body.model_dump(), by=caller.audit_name)
    except InvalidReportInput as error:
        raise _rejected(error) from error
    return SubscriptionOut.of(created, reports.clock())


@router.get("/report-subscriptions", dependencies=[SUBSCRIPTIONS_READ],
            response_model=list[SubscriptionOut])
def list_subscriptions(reports: Reports) -> list[SubscriptionOut]:
    now = reports.clock()
    return [SubscriptionOut.of(s, now) for s in reports.list_subscriptions()]


@router.get("/report-subscriptions/{subscription_id}", dependencies=[SUBSCRIPTIONS_READ],
            response_model=SubscriptionOut,
            responses={404: {"description": "Unknown subscription"}})
def get_subscription(reports: Reports, subscription_id: RowId) -> SubscriptionOut:
    try:
        return SubscriptionOut.of(reports.get_subscription(subscription_id), reports.clock())
    except SubscriptionNotFound as error:
        raise _not_found(error) from error


@router.patch("/report-subscriptions/{subscription_id}", response_model=SubscriptionOut,
              responses={404: {"description": "Unknown subscription"}})
def update_subscription(caller: Writer, reports: Reports, subscription_id: RowId,
                        body: SubscriptionPatch) -> SubscriptionOut:
    """Change any fields; the others are kept."""
    try:
        updated = reports.update_subscription(subscription_id, caller.audit_name,
                                              **body.model_dump(exclude_unset=True))
    except SubscriptionNotFound as error:
        raise _not_found(error) from error
    except InvalidReportInput as error:
        raise _rejected(error) from error
    return SubscriptionOut.of(updated, reports.clock())


@router.put("/report-subscriptions/{subscription_id}", response_model=SubscriptionOut,
            responses={404: {"description": "Unknown subscription"}})
def replace_subscription(caller: Writer, reports: Reports, subscription_id: RowId,
                         body: SubscriptionIn) -> SubscriptionOut:
    """Replace every field (omitted ones take their defaults)."""
    try:
        updated = reports.update_subscription(subscription_id, caller.audit_name,
                                              **body.model_dump())
    except SubscriptionNotFound as error:
        raise _not_found(error) from error
    except InvalidReportInput as error:
        raise _rejected(error) from error
    return SubscriptionOut.of(updated, reports.clock())


@router.delete("/report-subscriptions/{subscription_id}", status_code=204,
               responses={404: {"description": "Unknown subscription"}})
def delete_subscription(caller: Writer, reports: Reports, subscription_id: RowId) -> Response:
    """The subscription and its run history."""
    try:
        reports.delete_subscription(subscription_id, caller.audit_name)
    except SubscriptionNotFound as error:
        raise _not_found(error) from error
    return Response(status_code=204)


@router.post("/report-subscriptions/{subscription_id}/send-now", dependencies=[WRITE],
             response_model=RunOut,
             responses={404: {"description": "Unknown subscription"},
                        409: {"description": "This window was already reported"}})
def send_now(reports: Reports, subscription_id: RowId, body: WindowIn) -> RunOut:
    """Report a chosen window now (charges that ended in [start, end)); returns the run."""
    window = _window(body.start, body.end, "body", "start", "end")
    try:
        return RunOut.of(reports.send_now(subscription_id, window))
    except SubscriptionNotFound as error:
        raise _not_found(error) from error
    except RunConflict as error:
        raise HTTPException(409, str(error)) from error


@router.get("/reports/runs", dependencies=[SUBSCRIPTIONS_READ],
            response_model=list[RunOut])
def list_runs(reports: Reports, subscription_id: RowIdQuery = None,
              state: RunState | None = None,
              limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[RunOut]:
    """Every report run, newest window first: state, attempts, last error, sent at."""
    return [RunOut.of(r) for r in reports.list_runs(subscription_id, state, limit)]


@router.post("/reports/runs/{run_id}/retry", dependencies=[WRITE],
             response_model=RunOut,
             responses={404: {"description": "Unknown run"},
                        409: {"description": "Only failed runs are retried"}})
def retry_run(reports: Reports, run_id: RowId) -> RunOut:
    """Send a failed run again (with the usual retries); returns the run."""
    try:
        return RunOut.of(reports.retry_run(run_id))
    except (RunNotFound, SubscriptionNotFound) as error:
        raise _not_found(error) from error
    except RunConflict as error:
        raise HTTPException(409, str(error)) from error


@router.get("/reports/charges.csv",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}}}})
def charges_csv(reports: Reports, caller: Annotated[Principal, READ],
                start_date: Annotated[datetime, Query(
                    description="Charges ending at or after (ISO 8601; naive = UTC)")],
                end_date: Annotated[datetime, Query(
                    description="Charges ending before (ISO 8601; naive = UTC)")],
                timezone: Annotated[str, Query(
                    description="IANA zone of the CSV's times")] = DEFAULT_TIMEZONE,
                charging_station_id: Annotated[list[str] | None, Query()] = None,
                id_tag: Annotated[list[str] | None, Query()] = None,
                group: Annotated[list[str] | None, Query(
                    description="Only charges of these id tag groups")] = None,
                ) -> StreamingResponse:
    """The report's CSV for any period: charges that ended (finished or error) in it."""
    window = _window(start_date, end_date, "query", "start_date", "end_date")
    try:
        zone = validate_timezone(timezone)
    except InvalidReportInput as error:
        raise invalid("query", "timezone", error.message) from error
    stations = _visible_stations(caller, charging_station_id or [])
    lines = iter(()) if stations is None else reports.charges.ended_in(
        window, ReportFilter(stations, tuple(id_tag or ()), tuple(group or ())))
    return StreamingResponse(csv_chunks(lines, zone), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition":
                                      'attachment; filename="charges-report.csv"'})


def _visible_stations(caller: Principal, asked: list[str]) -> tuple[str, ...] | None:
    """The stations filter within the caller's scope (() every station; None: none at all,
    so an empty CSV; a station outside the scope is left out as an unknown one would be)."""
    if caller.station_scope is None:
        return tuple(asked)
    stations = tuple(s for s in asked if caller.sees_station(s)) if asked else tuple(
        sorted(caller.station_scope))
    return stations or None
