"""The reports page: subscriptions (recipients, schedule, time zone) and recent runs, with
a retry of a failed run (the same use cases as /report-subscriptions and /reports/runs)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from save_server.domain.access import Permission, Principal
from save_server.infrastructure.dashboard.rendering import render
from save_server.infrastructure.dashboard.session import PageError, page
from save_server.infrastructure.reports.api import network_wide
from save_server.service.reports import RunConflict, RunNotFound, SubscriptionNotFound

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(page(Permission.REPORTS_READ))]
Writer = Annotated[Principal, Depends(page(Permission.REPORTS_WRITE))]


def _reports(request: Request, caller: Principal):  # type: ignore[no-untyped-def]
    try:
        network_wide(caller)
    except HTTPException as error:
        raise PageError(error.status_code, str(error.detail)) from error
    reports = getattr(request.app.state, "reports", None)
    if reports is None:
        raise PageError(404, "reports are not served by this process")
    return reports


@router.get("/ui/reports")
async def reports_page(request: Request, caller: Reader) -> Response:
    reports = _reports(request, caller)
    subscriptions = await asyncio.to_thread(reports.list_subscriptions)
    runs = await asyncio.to_thread(reports.list_runs, None, None, 50)
    return render(request, "reports.html", subscriptions=subscriptions, runs=runs,
                  retried=request.query_params.get("retried"))


@router.post("/ui/reports/runs/{run_id}/retry")
async def retry(request: Request, caller: Writer, run_id: int) -> Response:
    reports = _reports(request, caller)
    try:
        run = await asyncio.to_thread(reports.retry_run, run_id)
    except (RunNotFound, SubscriptionNotFound) as error:
        raise PageError(404, str(error)) from error
    except RunConflict as error:
        raise PageError(409, str(error)) from error
    return RedirectResponse(f"/ui/reports?retried={run.id}&state={run.state.value}", 303)
