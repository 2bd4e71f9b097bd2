"""The charge history: filtered lists (keyset pages), CSV export, one charge."""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse

from save_server.domain.access import Permission, Principal
from save_server.domain.model import Charge
from save_server.domain.ports import ChargeCursor, ChargeFilter
from save_server.domain.rules import ChargeStatus
from save_server.infrastructure.api.dependencies import Deps
from save_server.infrastructure.api.errors import RowId, invalid
from save_server.infrastructure.api.schemas import (
    CHARGE_FIELDS,
    ChargeDetailOut,
    ChargeOut,
    ReadingOut,
)
from save_server.infrastructure.api.security import allow
from save_server.service.charges import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    ChargeNotFound,
    get_charge,
    list_charges,
    stream_charges,
)

router = APIRouter(tags=["charges"])
Reader = Annotated[Principal, allow(Permission.CHARGES_READ)]


def _filter(caller: Principal, charging_station_id: str | None, start_date: datetime | None,
            end_date: datetime | None, status: ChargeStatus | None,
            id_tag: str | None, group: str | None = None) -> ChargeFilter:
    start, end = _utc(start_date), _utc(end_date)
    if start is not None and end is not None and start > end:
        raise invalid("query", "start_date", "start_date must not be after end_date")
    return ChargeFilter(charging_station_id, start, end, status, id_tag, caller.station_scope,
                        group)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


StationQ = Annotated[str | None, Query(description="Only this station's charges")]
StartQ = Annotated[datetime | None, Query(
    description="Charges starting at or after (ISO 8601; naive = UTC)")]
EndQ = Annotated[datetime | None, Query(
    description="Charges ending at or before (ISO 8601; naive = UTC)")]
StatusQ = Annotated[ChargeStatus | None, Query()]
IdTagQ = Annotated[str | None, Query(description="The RFID of the user")]
GroupQ = Annotated[str | None, Query(max_length=20, description=(
    "Only charges whose id tag belonged to this id tag group at the start"))]


def encode_cursor(cursor: ChargeCursor) -> str:
    raw = f"{cursor.sort_at.isoformat()}|{cursor.charge_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> ChargeCursor:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        sort_at, charge_id = raw.split("|")
        return ChargeCursor(datetime.fromisoformat(sort_at).astimezone(UTC), int(charge_id))
    except (ValueError, UnicodeDecodeError) as error:
        raise invalid("query", "after", "not a cursor from a Link header") from error


@router.get("/charges", response_model=list[ChargeOut])
def charges(deps: Deps, caller: Reader, request: Request, response: Response,
            charging_station_id: StationQ = None, start_date: StartQ = None,
            end_date: EndQ = None, status: StatusQ = None, id_tag: IdTagQ = None,
            group: GroupQ = None,
            limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
            after: Annotated[str | None, Query(
                description="Opaque cursor; follow the Link header rel=next")] = None,
            ) -> list[ChargeOut]:
    """Newest first. The next page, if any, is in the `Link` header (rel="next")."""
    charge_filter = _filter(caller, charging_station_id, start_date, end_date, status, id_tag,
                            group)
    cursor = decode_cursor(after) if after else None
    page = list_charges(deps.charge_reader, charge_filter, cursor, limit)
    if page.next_cursor is not None:
        next_url = request.url.include_query_params(after=encode_cursor(page.next_cursor))
        response.headers["Link"] = f'<{next_url}>; rel="next"'
    return [ChargeOut.of(c) for c in page.charges]


@router.get("/charges.csv", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}}}})
def charges_csv(deps: Deps, caller: Reader, charging_station_id: StationQ = None,
                start_date: StartQ = None, end_date: EndQ = None, status: StatusQ = None,
                id_tag: IdTagQ = None, group: GroupQ = None) -> StreamingResponse:
    """The same filters as /charges, as RFC 4180 CSV (UTF-8), streamed."""
    charge_filter = _filter(caller, charging_station_id, start_date, end_date, status, id_tag,
                            group)
    rows = stream_charges(deps.charge_reader, charge_filter)
    return StreamingResponse(_csv_lines(rows), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="charges.csv"'})


def _csv_lines(charges: Iterator[Charge]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CHARGE_FIELDS)
    for i, charge in enumerate(charges, 1):
        record: dict[str, Any] = ChargeOut.of(charge).model_dump()
        writer.writerow([_csv_value(record[name]) for name in CHARGE_FIELDS])
        if i % 200 == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def _csv_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "value"):
        return value.value
    return "" if value is None else value


@router.get("/charges/{charge_id}", response_model=ChargeDetailOut,
            responses={404: {"description": "Unknown charge"}})
def charge(deps: Deps, caller: Reader, charge_id: RowId) -> ChargeDetailOut:
    """One charge with its meter values (the energy curve)."""
    try:
        found, samples = get_charge(deps.charge_reader, charge_id)
        if not caller.sees_station(found.station_id):
            raise ChargeNotFound(charge_id)
    except ChargeNotFound as error:
        raise HTTPException(404, str(error)) from error
    return ChargeDetailOut(**ChargeOut.of(found).model_dump(),
                           meter_values=[ReadingOut.of(s) for s in samples])
