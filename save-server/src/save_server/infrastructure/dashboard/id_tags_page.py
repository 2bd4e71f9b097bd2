"""The id tag pages: search with keyset pages, a tag's page (edit, block), new tags, CSV
import (all or nothing, the errors by line) and export, groups with their monthly usage, the
unknown cards with one-click enrolment. Each calls the `/id-tags` API's own route function,
so the scope rules are the API's: a scoped account sees its places' tags and changes none.

A tag's page is `/ui/id-tags/t/{token}`, apart from the fixed pages: a token may contain `/`
(OCPP allows it, and the router decodes `%2F` before matching) or be named `groups`,
`export` or `unknown`; under `t/` every token, whatever it reads, opens its own page."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from save_server.domain.access import Permission, Principal
from save_server.domain.id_tags import TOKEN_TYPES, TagStatus
from save_server.infrastructure.dashboard import id_tag_forms as forms
from save_server.infrastructure.dashboard.api_calls import Refused, call, sites
from save_server.infrastructure.dashboard.i18n import DEFAULT_TIMEZONE
from save_server.infrastructure.dashboard.rendering import render
from save_server.infrastructure.dashboard.session import PageError, page
from save_server.infrastructure.id_tags import api, groups_api

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(page(Permission.ID_TAGS_READ))]
Writer = Annotated[Principal, Depends(page(Permission.ID_TAGS_WRITE))]
PAGE_SIZE = 50
MONTH = re.compile(r"^(19|20|21)\d{2}-(0[1-9]|1[0-2])$")


def may_change(caller: Principal) -> bool:
    """The API's rule: writers without a site/station scope change tags."""
    return caller.can(Permission.ID_TAGS_WRITE) and caller.station_scope is None


TAG_PAGES = "/ui/id-tags/t/"


def tag_url(id_tag: str) -> str:
    return TAG_PAGES + quote(id_tag, safe="")


def _status(value: str | None) -> TagStatus | None:
    if not value:
        return None
    try:
        return TagStatus(value)
    except ValueError as error:
        raise PageError(400, f"unknown status {value!r}") from error


async def list_page(request: Request, caller: Principal, status_code: int = 200,
                     **extra: Any) -> Response:
    q = request.query_params
    search = (q.get("q") or "").strip()[:200] or None
    group = (q.get("group") or "").strip()[:20] or None
    links = Response()
    try:
        tags = await call(api.search_tags, request, links, caller, search, group,
                          _status(q.get("status")), PAGE_SIZE, q.get("after") or None)
    except Refused as refused:
        raise PageError(400, str(refused)) from refused
    after = re.search(r"[?&]after=([^&>]+)", links.headers.get("link", ""))
    query = {k: v for k, v in (("q", search), ("group", group), ("status", q.get("status")))
             if v}
    groups = await call(groups_api.list_groups, request, caller)
    return render(request, "id_tags.html", status_code=status_code, tags=tags, groups=groups,
                  query=query, statuses=list(TagStatus), token_types=TOKEN_TYPES,
                  sites=await sites(request),
                  next_url=(f"/ui/id-tags?{urlencode({**query, 'after': after.group(1)})}"
                            if after else None),
                  first_url=f"/ui/id-tags?{urlencode(query)}", paged="after" in q,
                  may_change=may_change(caller), tag_url=tag_url, **extra)


@router.get("/ui/id-tags")
async def id_tags(request: Request, caller: Reader) -> Response:
    return await list_page(request, caller)


@router.post("/ui/id-tags")
async def create_tag(request: Request, caller: Writer) -> Response:
    form = await request.form()
    try:
        created = await call(api.create_tag, request, caller, forms.new_tag(form))
    except Refused as refused:
        return await list_page(request, caller, refused.status, create_error=str(refused),
                                entered=forms.entered(form))
    return RedirectResponse(tag_url(created["id_tag"]) + "?saved=1", 303)


@router.get("/ui/id-tags/export")
async def export(request: Request, caller: Reader) -> Response:
    return await call(api.export_tags, request, caller)


@router.get("/ui/id-tags/unknown")
async def unknown(request: Request, caller: Reader) -> Response:
    cards = await call(api.unknown_tags, request, caller)
    return render(request, "id_tags_unknown.html", cards=cards, may_change=may_change(caller),
                  tag_url=tag_url)


@router.post("/ui/id-tags/unknown/{id_tag:path}/enroll")
async def enroll(request: Request, caller: Writer, id_tag: str) -> Response:
    try:
        enrolled = await call(api.enroll, request, caller, id_tag, None)
    except Refused as refused:
        raise PageError(refused.status, str(refused)) from refused
    return RedirectResponse(tag_url(enrolled["id_tag"]) + "?enrolled=1", 303)


def _this_month() -> str:
    return datetime.now(UTC).astimezone(ZoneInfo(DEFAULT_TIMEZONE)).strftime("%Y-%m")


@router.get("/ui/id-tags/groups")
async def groups(request: Request, caller: Reader, month: str | None = None) -> Response:
    return await _groups_page(request, caller, month)


async def _groups_page(request: Request, caller: Principal, month: str | None,
                       status_code: int = 200, **extra: Any) -> Response:
    month = month or _this_month()
    if not MONTH.match(month):
        raise PageError(400, "month: yyyy-mm")
    found = await call(groups_api.list_groups, request, caller)
    usage = await call(api.usage, request, caller, month)
    return render(request, "id_tag_groups.html", status_code=status_code, groups=found,
                  usage=usage, month=month,
                  group_usage={u["group_id"]: u for u in usage["groups"]},
                  may_change=may_change(caller), **extra)


@router.post("/ui/id-tags/groups")
async def create_group(request: Request, caller: Writer) -> Response:
    form = await request.form()
    try:
        await call(groups_api.create_group, request, caller, forms.new_group(form))
    except Refused as refused:
        return await _groups_page(request, caller, None, refused.status, group_error=str(refused),
                            entered=forms.entered(form))
    return RedirectResponse("/ui/id-tags/groups?saved=1", 303)


@router.post("/ui/id-tags/groups/{group_id:path}/edit")
async def edit_group(request: Request, caller: Writer, group_id: str) -> Response:
    form = await request.form()
    try:
        await call(groups_api.update_group, request, caller, group_id,
                   forms.group_changes(form))
    except Refused as refused:
        return await _groups_page(request, caller, None, refused.status,
                                  group_error=str(refused))
    return RedirectResponse("/ui/id-tags/groups?saved=1", 303)


@router.post("/ui/id-tags/groups/{group_id:path}/delete")
async def delete_group(request: Request, caller: Writer, group_id: str) -> Response:
    try:
        await call(groups_api.delete_group, request, caller, group_id)
    except Refused as refused:
        return await _groups_page(request, caller, None, refused.status, group_error=str(refused))
    return RedirectResponse("/ui/id-tags/groups?deleted=1", 303)


async def _tag_page(request: Request, caller: Principal, id_tag: str, status_code: int = 200,
                    **extra: Any) -> Response:
    try:
        tag = await call(api.get_tag, request, caller, id_tag)
    except Refused as refused:
        raise PageError(refused.status, str(refused)) from refused
    found_groups = await call(groups_api.list_groups, request, caller)
    expires = datetime.fromisoformat(tag["expires_at"]) if tag["expires_at"] else None
    return render(request, "id_tag.html", status_code=status_code, tag=tag,
                  groups=found_groups, statuses=list(TagStatus), token_types=TOKEN_TYPES,
                  sites=await sites(request), expires=expires,
                  expiry_day=forms.expiry_day(expires), may_change=may_change(caller),
                  tag_url=tag_url, **extra)


@router.get(TAG_PAGES + "{id_tag:path}")
async def tag_page(request: Request, caller: Reader, id_tag: str) -> Response:
    return await _tag_page(request, caller, id_tag)


@router.post(TAG_PAGES + "{id_tag:path}/edit")
async def edit_tag(request: Request, caller: Writer, id_tag: str) -> Response:
    form = await request.form()
    changes = forms.status_change if form.get("only") == "status" else forms.tag_changes
    try:
        saved = await call(api.update_tag, request, caller, id_tag, changes(form))
    except Refused as refused:
        if refused.status == 404:
            raise PageError(404, str(refused)) from refused
        return await _tag_page(request, caller, id_tag, refused.status,
                               edit_error=str(refused))
    return RedirectResponse(tag_url(saved["id_tag"]) + "?saved=1", 303)


@router.get("/ui/id-tags/{id_tag:path}")
async def old_tag_link(caller: Reader, id_tag: str) -> Response:
    """Links saved before tag pages moved under `t/` (the fixed pages above win)."""
    return RedirectResponse(tag_url(id_tag), 301)
