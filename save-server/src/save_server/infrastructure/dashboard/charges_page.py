"""The charges page: the thesis's query (period, station, status, id tag), keyset pages,
totals for the filter, and the CSV of the same filter (the API's CSV format)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse

from save_server.domain.access import Permission, Principal
from save_server.domain.ports import ChargeFilter
from save_server.domain.rules import ChargeStatus
from save_server.infrastructure.api.routers.charges import (
    _csv_lines,
    decode_cursor,
    encode_cursor,
)
from save_server.infrastructure.dashboard.i18n import DEFAULT_TIMEZONE
from save_server.infrastructure.dashboard.rendering import render
from save_server.infrastructure.dashboard.session import PageError, page
from save_server.service.charges import list_charges, stream_charges

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(page(Permission.CHARGES_READ))]
PAGE_SIZE = 50


@dataclass(frozen=True)
class Totals:
    count: int
    energy_wh: float
    duration_seconds: float


def _day(value: str | None, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise PageError(400, f"{field}: not a date (yyyy-mm-dd)") from error


def charge_filter(request: Request, caller: Principal) -> ChargeFilter:
    """The form's days are whole days in São Paulo time (SAVE's sites; a per-site zone for a
    period spanning several sites would be ambiguous)."""
    q = request.query_params
    zone = ZoneInfo(DEFAULT_TIMEZONE)
    start, end = _day(q.get("from"), "from"), _day(q.get("to"), "to")
    if start and end and start > end:
        raise PageError(400, "from must not be after to")
    status = q.get("status") or None
    if status is not None and status not in {s.value for s in ChargeStatus}:
        raise PageError(400, f"unknown status {status!r}")
    return ChargeFilter(
        q.get("station") or None,
        datetime.combine(start, time(), zone) if start else None,
        datetime.combine(end + timedelta(days=1), time(), zone) if end else None,
        ChargeStatus(status) if status else None, q.get("id_tag") or None,
        caller.station_scope)


def _totals(reader: object, wanted: ChargeFilter) -> Totals:
    count, energy, duration = 0, 0.0, 0.0
    for charge in stream_charges(reader, wanted):  # type: ignore[arg-type]
        count += 1
        energy += charge.energy_wh or 0.0
        duration += charge.duration_seconds or 0.0
    return Totals(count, energy, duration)


@router.get("/ui/charges")
async def charges(request: Request, caller: Reader) -> Response:
    wanted = charge_filter(request, caller)
    reader = request.app.state.dependencies.charge_reader
    after = request.query_params.get("after")
    try:
        cursor = decode_cursor(after) if after else None
    except Exception as error:
        raise PageError(400, "not a page cursor") from error
    found = await asyncio.to_thread(list_charges, reader, wanted, cursor, PAGE_SIZE)
    totals = await asyncio.to_thread(_totals, reader, wanted)
    query = {k: v for k, v in request.query_params.items() if k != "after" and v}
    next_url = (f"/ui/charges?{urlencode({**query, 'after': encode_cursor(found.next_cursor)})}"
                if found.next_cursor else None)
    return render(request, "charges.html", charges=found.charges, totals=totals,
                  filters=query, next_url=next_url, first_url=f"/ui/charges?{urlencode(query)}",
                  csv_url=f"/ui/charges.csv?{urlencode(query)}", statuses=list(ChargeStatus),
                  paged=bool(after))


@router.get("/ui/charges.csv")
def charges_csv(request: Request, caller: Reader) -> Response:
    """Every charge of the filter shown (all its pages), the columns of `GET /charges.csv`."""
    wanted = charge_filter(request, caller)
    rows = stream_charges(request.app.state.dependencies.charge_reader, wanted)
    return StreamingResponse(_csv_lines(rows), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="charges.csv"'})
