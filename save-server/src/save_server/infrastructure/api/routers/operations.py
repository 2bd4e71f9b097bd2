"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from save_server.infrastructure.api.dependencies import Deps
from save_server.infrastructure.probes import readiness_answer

router = APIRouter(tags=["operations"])


@router.get("/health")
def health() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/ready")
def ready(deps: Deps) -> JSONResponse:
    """The database and the broker answer; 503 names those that do not."""
    status, body = readiness_answer(deps.ready())
    return JSONResponse(body, status_code=status)


@router.get("/metrics")
def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
