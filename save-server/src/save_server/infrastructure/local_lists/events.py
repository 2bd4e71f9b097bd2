"""The events that move local lists, read tolerantly: a station connected or booted
(`ocpp-events.connect`, an accepted `ocpp-events.boot-notification`), a tag changed or was
removed (`id-tag-registry.tag-updated` / `tag-removed`, published by the tag registry's
outbox): a blocked or deleted tag also clears the authorization cache where it was allowed.
Anything else, or anything malformed, moves nothing."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import Any

from save_server.service.local_lists import CONNECT_SETTLE, LocalListSync

CONNECTED = "ocpp-events.connect"
BOOTED = "ocpp-events.boot-notification"
TAG_UPDATED = "id-tag-registry.tag-updated"
TAG_REMOVED = "id-tag-registry.tag-removed"
STATION_EVENTS = (CONNECTED, BOOTED)
TAG_EVENTS = (TAG_UPDATED, TAG_REMOVED)


def work_for(sync: LocalListSync, body: bytes) -> list[Awaitable[None]]:
    try:
        event = json.loads(body)
        kind, payload = event["type"], event.get("payload") or {}
    except (ValueError, KeyError, TypeError):
        return []
    if not isinstance(payload, dict):
        return []
    station_id = event.get("charging_station_id")
    connection_id = event.get("connection_id")
    connection_id = str(connection_id) if connection_id else None
    if kind == CONNECTED and station_id:
        return [sync.station_connected(station_id, connection_id=connection_id,
                                       settle=CONNECT_SETTLE)]
    if kind == BOOTED and station_id and _accepted(event.get("response")):
        return [sync.station_connected(station_id, True, _firmware(payload), connection_id)]
    if kind in TAG_EVENTS:
        tag = payload.get("tag") if isinstance(payload.get("tag"), dict) else payload
        id_tag = tag.get("id_tag")
        if not isinstance(id_tag, str) or not id_tag:
            return [sync.tags_changed()]  # which tag is not said: every station is checked
        if kind == TAG_UPDATED and tag.get("status") == "blocked":
            return [_list_then_cache(sync, id_tag, everywhere=False)]
        if kind == TAG_REMOVED:  # a deleted card: as if blocked
            return [_list_then_cache(sync, id_tag, everywhere=True)]
        return [sync.tags_changed([id_tag])]
    return []


async def _list_then_cache(sync: LocalListSync, id_tag: str, everywhere: bool) -> None:
    """The lists first (the tag `Blocked` or gone), then the caches: cleared the other way
    round, an offline station could accept the card from its stale list meanwhile."""
    await sync.tags_changed([id_tag])
    await sync.tag_blocked(id_tag, everywhere=everywhere)


def _accepted(response: Any) -> bool:
    """A boot answered Pending or Rejected is no time to send the station anything."""
    return not isinstance(response, dict) or response.get("status") in (None, "Accepted")


def _firmware(payload: dict[str, Any]) -> str | None:
    station = payload.get("chargingStation")
    value = (station.get("firmwareVersion") if isinstance(station, dict)
             else payload.get("firmwareVersion"))
    return str(value)[:50] if value else None
