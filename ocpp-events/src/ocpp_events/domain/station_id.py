"""The station identity taken from the websocket path."""

from __future__ import annotations

from urllib.parse import unquote

MAX_LENGTH = 48


class InvalidStationId(ValueError):
    """The path names no acceptable station (answered 400 at the handshake)."""


class OutsidePrefix(InvalidStationId):
    """The path is not under the OCPP prefix (answered 404 at the handshake)."""


def station_id_from_path(path: str, prefix: str) -> str:
    """The last path segment under `prefix`, URL-decoded; raises InvalidStationId."""
    path = path.split("?", 1)[0]
    if not path.startswith(prefix):
        raise OutsidePrefix(f"path must start with {prefix}")
    raw = path[len(prefix):]
    if "/" in raw:
        raise InvalidStationId("station id must be one path segment")
    try:
        station_id = unquote(raw, errors="strict")
    except UnicodeDecodeError as error:
        raise InvalidStationId("station id is not valid UTF-8") from error
    if not station_id:
        raise InvalidStationId("empty station id")
    if len(station_id) > MAX_LENGTH:
        raise InvalidStationId(f"station id longer than {MAX_LENGTH} characters")
    if not station_id.isprintable() or "/" in station_id:
        raise InvalidStationId("station id has non-printable characters")
    return station_id
