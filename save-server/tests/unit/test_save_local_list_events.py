"""Which events move local lists, and how: connect, an accepted boot (with its firmware),
tag updates (the lists of the stations that tag concerns; blocked → ClearCache where allowed,
after the lists), removals (ClearCache everywhere); anything else or malformed moves nothing."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from save_server.infrastructure.local_lists.events import work_for
from save_server.infrastructure.local_lists.runner import bindings


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    async def station_connected(self, station_id: str, booted: bool = False,
                                firmware_version: str | None = None,
                                connection_id: str | None = None, settle: float = 0.0) -> None:
        self.calls.append(("connected", station_id, booted, firmware_version, connection_id,
                           settle))

    async def tags_changed(self, id_tags: list[str] | None = None) -> None:
        await asyncio.sleep(0.01)  # a ClearCache not waiting for the lists would come first
        self.calls.append(("tags-changed", id_tags))

    async def tag_blocked(self, id_tag: str, everywhere: bool = False) -> None:
        self.calls.append(("blocked", id_tag, everywhere))


def event(kind: str, payload: Any = None, **fields: Any) -> bytes:
    return json.dumps({"type": kind, "charging_station_id": "CP-1", "connection_id": "c1",
                       "payload": payload or {}, **fields}).encode()


BOOT_16 = {"chargePointVendor": "ACME", "chargePointModel": "X", "firmwareVersion": "1.2"}
BOOT_201 = {"chargingStation": {"vendorName": "ACME", "model": "X", "firmwareVersion": "3.0"},
            "reason": "PowerUp"}


@pytest.mark.parametrize(("body", "calls"), [
    (event("ocpp-events.connect"), [("connected", "CP-1", False, None, "c1", 2.0)]),
    (event("ocpp-events.boot-notification", BOOT_16, response={"status": "Accepted"}),
     [("connected", "CP-1", True, "1.2", "c1", 0.0)]),
    (event("ocpp-events.boot-notification", BOOT_201, response={"status": "Accepted"}),
     [("connected", "CP-1", True, "3.0", "c1", 0.0)]),
    (event("ocpp-events.boot-notification", BOOT_16, response={"status": "Pending"}), []),
    (event("id-tag-registry.tag-updated", {"id_tag": "A", "status": "active"}),
     [("tags-changed", ["A"])]),
    (event("id-tag-registry.tag-updated", {"id_tag": "A", "status": "blocked"}),
     [("tags-changed", ["A"]), ("blocked", "A", False)]),
    (event("id-tag-registry.tag-removed", {"id_tag": "A"}),
     [("tags-changed", ["A"]), ("blocked", "A", True)]),
    (event("id-tag-registry.tag-updated", {"status": "active"}),  # which tag: not said
     [("tags-changed", None)]),
    (event("ocpp-events.heart-beat"), []),
    (event("ocpp-events.connect", charging_station_id=""), []),
    (b"not json", []),
    (json.dumps({"type": "id-tag-registry.tag-updated", "payload": ["x"]}).encode(), []),
])
async def test_events_and_the_work_they_give(body: bytes, calls: list[tuple[Any, ...]]) -> None:
    recorder = Recorder()
    await asyncio.gather(*work_for(recorder, body))  # type: ignore[arg-type]
    assert recorder.calls == calls


def test_tag_events_are_bound_on_both_exchanges_station_events_on_the_events_one() -> None:
    assert sorted(bindings("ev", "reg")) == sorted([
        ("ev", "ocpp-events.connect"), ("ev", "ocpp-events.boot-notification"),
        ("ev", "id-tag-registry.tag-updated"), ("ev", "id-tag-registry.tag-removed"),
        ("reg", "id-tag-registry.tag-updated"), ("reg", "id-tag-registry.tag-removed")])
    assert len(bindings("ev", None)) == 4
