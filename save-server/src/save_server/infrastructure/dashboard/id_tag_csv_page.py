"""The id tags' CSV import from the page: an uploaded file, the API's checks (unscoped
writers, 10 MiB, UTF-8) and its all-or-nothing import; refused, the errors are listed with
their line numbers and nothing is imported."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from save_server.domain.access import Permission, Principal
from save_server.infrastructure.dashboard.api_calls import refusal_text
from save_server.infrastructure.dashboard.id_tags_page import list_page
from save_server.infrastructure.dashboard.session import page
from save_server.infrastructure.id_tags.api import MAX_CSV_BYTES
from save_server.infrastructure.id_tags.http import service, unscoped
from save_server.service.id_tag_csv import ImportRefused, RowError, import_csv

router = APIRouter(include_in_schema=False)
Writer = Annotated[Principal, Depends(page(Permission.ID_TAGS_WRITE))]


async def _text(upload: object) -> str:
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise ImportRefused([RowError(0, None, "choose a CSV file")])
    raw = await upload.read(MAX_CSV_BYTES + 1)
    if len(raw) > MAX_CSV_BYTES:
        raise ImportRefused([RowError(0, None, "a CSV import is at most 10 MiB")])
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ImportRefused([RowError(0, None, "the CSV is not UTF-8")]) from error


@router.post("/ui/id-tags/import")
async def import_tags(request: Request, caller: Writer) -> Response:
    try:
        unscoped(caller)
    except HTTPException as error:
        return await list_page(request, caller, error.status_code,
                               import_refused=refusal_text(error.detail), import_errors=[])
    form = await request.form()
    try:
        text = await _text(form.get("file"))
        result = await asyncio.to_thread(import_csv, service(request), text, caller.audit_name)
    except ImportRefused as refused:
        return await list_page(request, caller, 422, import_refused=str(refused),
                               import_errors=refused.errors)
    return RedirectResponse(f"/ui/id-tags?created={result.created}&updated={result.updated}"
                            f"&unchanged={result.unchanged}", 303)
