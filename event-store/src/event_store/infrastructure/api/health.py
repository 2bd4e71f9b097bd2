"""`/health` (process alive), `/ready` (storage reachable), `/metrics` (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from event_store.infrastructure.api.dependencies import StorageDep

router = APIRouter(tags=["operations"])


@router.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready")
def ready(storage: StorageDep) -> JSONResponse:
    try:
        storage.ping()
    except Exception as error:
        return JSONResponse({"status": "unavailable", "error": str(error)}, status_code=503)
    return JSONResponse({"status": "ready"})


@router.get("/metrics")
def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
