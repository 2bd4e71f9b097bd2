"""JSON responses built without per-object model validation: listing 10,000 stations must
stay fast. The station shape is exactly `schemas.StationOut` (a test checks the two agree)."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from save_server.infrastructure.db.documents import dumps, station_json

__all__ = ["json_response", "station_json"]


def json_response(content: Any) -> Response:
    return Response(dumps(content), media_type="application/json")
