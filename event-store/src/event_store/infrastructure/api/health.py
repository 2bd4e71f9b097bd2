"""`/health` (process alive), `/ready` (storage and broker reachable), `/metrics`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from event_store.infrastructure.api.dependencies import StorageDep
from event_store.infrastructure.probes import readiness_answer, run_checks

router = APIRouter(tags=["operations"])


@router.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready")
def ready(request: Request, storage: StorageDep) -> JSONResponse:
    """`database`: the storage answers its ping; `broker`: the check the composition root
    put in `app.state.broker_ready` (none: not checked). 503 names what is down."""
    storage_error: str | None = None
    try:
        storage.ping()
    except Exception as error:
        storage_error = str(error)
    checks = {"database": lambda: storage_error is None}
    broker_ready = getattr(request.app.state, "broker_ready", None)
    if broker_ready is not None:
        checks["broker"] = broker_ready
    status, body = readiness_answer(run_checks(checks))
    if storage_error is not None:
        body["error"] = storage_error
    return JSONResponse(body, status_code=status)


@router.get("/metrics")
def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
