"""Id tags (`/id-tags`) and their groups (`/id-tag-groups`): CRUD, search, CSV import and
export, unknown tokens and their enrolment, monthly usage. Fixed paths are declared before
`/id-tags/{id_tag}` and win over it (a token literally named `unknown`, `usage`, `export` or
`import` is reached through the search, `?q=`).

Scope: a caller whose account is scoped to sites/stations (a viewer of a building, a scoped
operator) sees the tags of its places (`TagScope`, domain/id_tags/visibility.py; the others
answer 404 exactly as unknown tags, and are left out of lists, the CSV, the usage and the
unknown tokens) and changes none (403). Every role reads id tags; operators and admins
change them."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from save_server.domain.access import Principal
from save_server.domain.id_tags import (
    TOKEN_TYPES,
    IdTag,
    InvalidIdTag,
    TagScope,
    TagStatus,
)
from save_server.infrastructure.api.errors import invalid
from save_server.infrastructure.id_tags.groups_api import router as groups_router
from save_server.infrastructure.id_tags.http import (
    NOT_FOUND,
    Reader,
    Writer,
    errors,
    service,
    tag_scope,
    unscoped,
)
from save_server.service.id_tag_csv import ImportRefused, export_csv, import_csv
from save_server.service.id_tags import (
    AlreadyExists,
    TagNotFound,
)

router = APIRouter(tags=["id tags"])
MAX_CSV_BYTES = 10 * 1024 * 1024
TokenType = Literal[TOKEN_TYPES]  # type: ignore[valid-type]
Month = Annotated[str, Query(pattern=r"^(19|20|21)\d{2}-(0[1-9]|1[0-2])$",
                             description="YYYY-MM, in each station's site time zone")]


class TagFields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token_type: TokenType | None = None
    group_id: str | None = Field(default=None, max_length=20)
    holder: str | None = Field(default=None, max_length=200)
    status: TagStatus = TagStatus.ACTIVE
    expires_at: datetime | None = None
    site_ids: list[str] | None = None
    station_ids: list[str] | None = None
    max_concurrent_charges: int = Field(default=1, ge=1, le=100)
    monthly_budget_kwh: float | None = Field(default=None, gt=0, le=1_000_000)
    evse_types: list[Literal["AC", "DC"]] | None = Field(default=None, min_length=1, description=(
        "The types of EVSE the tag may charge at (registrations declare each EVSE's type); "
        "null: every type"))


class TagIn(TagFields):
    id_tag: str = Field(min_length=1, max_length=36)


class TagPatch(TagFields):
    status: TagStatus | None = None  # type: ignore[assignment]
    max_concurrent_charges: int | None = Field(default=None, ge=1, le=100)  # type: ignore


def _tag_changes(fields: dict[str, Any]) -> dict[str, Any]:
    for name in ("site_ids", "station_ids", "evse_types"):
        if fields.get(name) is not None:
            fields[name] = tuple(dict.fromkeys(fields[name]))
    if fields.get("expires_at") is not None and fields["expires_at"].tzinfo is None:
        raise invalid("body", "expires_at", "expires_at needs a time zone offset (RFC 3339)")
    return fields


# scope -------------------------------------------------------------------------------------
def _sees(scope: TagScope | None, tag: IdTag) -> bool:
    return scope is None or scope.sees(tag)


def _shown(scope: TagScope | None, tag: IdTag) -> IdTag:
    """A scoped caller reads only its own places in a tag's `site_ids`/`station_ids`."""
    return tag if scope is None else scope.shown(tag)


def _visible_tag(request: Request, caller: Principal, id_tag: str) -> IdTag:
    tag, scope = service(request).tag(id_tag), tag_scope(request, caller)
    if not _sees(scope, tag):
        raise TagNotFound(f"no id tag {id_tag}")  # exactly as an unknown tag
    return _shown(scope, tag)


# tags: fixed paths first -------------------------------------------------------------------
def _encode(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def _decode(cursor: str) -> str:
    try:
        return base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_",
                                validate=True).decode()
    except (ValueError, UnicodeDecodeError) as error:
        raise invalid("query", "after", "not a cursor from a Link header") from error


@router.get("/id-tags")
def search_tags(request: Request, response: Response, caller: Reader,
                q: Annotated[str | None, Query(max_length=200, description=(
                    "A part of the token or of the holder label (case-insensitive)"))] = None,
                group: Annotated[str | None, Query(max_length=20)] = None,
                status: TagStatus | None = None,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                after: Annotated[str | None, Query(
                    description="Opaque cursor; follow the Link header rel=next")] = None,
                ) -> list[dict[str, Any]]:
    """Ordered by token (case-insensitively). The next page is in the `Link` header."""
    scope = tag_scope(request, caller)
    page = service(request).search(q, group, status, _decode(after) if after else None, limit,
                                   scope)
    if page.next_after is not None:
        next_url = request.url.include_query_params(after=_encode(page.next_after))
        response.headers["Link"] = f'<{next_url}>; rel="next"'
    return [_shown(scope, t).document() for t in page.tags]


@router.post("/id-tags", status_code=201, responses={409: {"description": "The tag exists"}})
def create_tag(request: Request, caller: Writer, body: TagIn) -> dict[str, Any]:
    unscoped(caller)
    fields = _tag_changes(body.model_dump())
    try:
        return service(request).create_tag(IdTag(**fields), caller.audit_name).document()
    except (InvalidIdTag, AlreadyExists) as error:
        raise errors(error) from error


@router.get("/id-tags/export", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}}}})
def export_tags(request: Request, caller: Reader) -> StreamingResponse:
    """Every tag the caller sees, in the import's CSV format."""
    scope = tag_scope(request, caller)
    tags = [_shown(scope, t) for t in service(request).all_tags() if _sees(scope, t)]

    def lines() -> Iterator[bytes]:
        for chunk in export_csv(tags):
            yield chunk.encode()
    return StreamingResponse(lines(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="id-tags.csv"'})


@router.post("/id-tags/import", responses={
    422: {"description": "Nothing imported: `errors` lists each bad row with its line"},
    413: {"description": "Over 10 MiB"}},
    openapi_extra={"requestBody": {"required": True,
                                   "content": {"text/csv": {"schema": {"type": "string"}}}}})
async def import_tags(request: Request, caller: Writer) -> JSONResponse:
    """Upsert tags from CSV (UTF-8; header `id_tag,token_type,group_id,holder,status,
    expires_at,site_ids,station_ids,max_concurrent_charges,monthly_budget_kwh`, any subset
    with `id_tag`; lists separated by `;`). All or nothing; importing the same file twice
    changes nothing the second time."""
    unscoped(caller)
    raw = await request.body()
    if len(raw) > MAX_CSV_BYTES:
        raise HTTPException(413, "a CSV import is at most 10 MiB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise HTTPException(422, "the CSV is not UTF-8") from error
    try:
        result = import_csv(service(request), text, caller.audit_name)
    except ImportRefused as refused:
        return JSONResponse(status_code=422, content={
            "detail": str(refused), "errors": [e.__dict__ for e in refused.errors]})
    return JSONResponse(result.__dict__)


@router.get("/id-tags/unknown")
def unknown_tags(request: Request, caller: Reader) -> list[dict[str, Any]]:
    """Tokens the gateways refused as unknown (`Invalid`): per station, first and last time,
    how often. Latest first."""
    scope = tag_scope(request, caller)
    return [{"id_tag": u.id_tag, "charging_station_id": u.station_id,
             "first_seen_at": u.first_seen_at, "last_seen_at": u.last_seen_at,
             "count": u.count}
            for u in service(request).unknown()
            if scope is None or u.station_id in scope.stations]


@router.post("/id-tags/unknown/{id_tag:path}/enroll", status_code=201, responses={
    **NOT_FOUND, 409: {"description": "The tag exists"}})
def enroll(request: Request, caller: Writer, id_tag: str,
           body: TagFields | None = None) -> dict[str, Any]:
    """Register an unknown token (with the fields given, else the defaults)."""
    unscoped(caller)
    fields = _tag_changes((body or TagFields()).model_dump())
    try:
        return service(request).enroll(id_tag, caller.audit_name, **fields).document()
    except (InvalidIdTag, TagNotFound, AlreadyExists) as error:
        raise errors(error) from error


@router.get("/id-tags/usage")
def usage(request: Request, caller: Reader, month: Month) -> dict[str, Any]:
    """Energy (kWh) and charges per group and per tag in a month; a charge counts in the
    month, in its station's site time zone, in which it started."""
    id_tags, scope = service(request), tag_scope(request, caller)
    found = id_tags.usage(month)
    tags = {t.key: t for t in id_tags.all_tags() if _sees(scope, t)}
    per_tag = [{"id_tag": tags[k].id_tag, "holder": tags[k].holder,
                "group_id": tags[k].group_id, "energy_kwh": round(u.energy_kwh, 3),
                "charges": u.charges} for k, u in sorted(found.tags.items()) if k in tags]
    groups: dict[str, dict[str, Any]] = {}
    for row in per_tag:
        if row["group_id"] is not None:
            entry = groups.setdefault(row["group_id"], {"group_id": row["group_id"],
                                                        "energy_kwh": 0.0, "charges": 0})
            entry["energy_kwh"] = round(entry["energy_kwh"] + row["energy_kwh"], 3)
            entry["charges"] += row["charges"]
    body: dict[str, Any] = {"month": month, "groups": [groups[g] for g in sorted(groups)],
                            "tags": per_tag}
    if scope is None:
        body["unregistered"] = {"energy_kwh": round(found.unregistered.energy_kwh, 3),
                                "charges": found.unregistered.charges}
    return body


# one tag -----------------------------------------------------------------------------------
@router.get("/id-tags/{id_tag:path}", responses=NOT_FOUND)
def get_tag(request: Request, caller: Reader, id_tag: str) -> dict[str, Any]:
    try:
        return _visible_tag(request, caller, id_tag).document()
    except TagNotFound as error:
        raise errors(error) from error


@router.patch("/id-tags/{id_tag:path}", responses=NOT_FOUND)
def update_tag(request: Request, caller: Writer, id_tag: str,
               body: TagPatch) -> dict[str, Any]:
    unscoped(caller)
    changes = _tag_changes(body.model_dump(include=body.model_fields_set))
    if not changes:
        raise invalid("body", "status", "give at least one field to change")
    for required in ("status", "max_concurrent_charges"):
        if required in changes and changes[required] is None:
            raise invalid("body", required, f"{required} cannot be null")
    try:
        return service(request).update_tag(id_tag, changes, caller.audit_name).document()
    except (InvalidIdTag, TagNotFound) as error:
        raise errors(error) from error


@router.delete("/id-tags/{id_tag:path}", status_code=204, responses=NOT_FOUND)
def delete_tag(request: Request, caller: Writer, id_tag: str) -> Response:
    unscoped(caller)
    try:
        service(request).delete_tag(id_tag, caller.audit_name)
    except TagNotFound as error:
        raise errors(error) from error
    return Response(status_code=204)


router.include_router(groups_router)
