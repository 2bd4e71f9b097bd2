"""Two stations on one gateway start with the same tag (limit 1) at the same moment, over real
websockets: exactly one start is accepted. (Across gateways the race is save-server's to
settle: docs/architecture.md, "Id tag registry copy".)"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from websockets.asyncio.client import connect

from ocpp_events.bootstrap import build_gateway
from ocpp_events.infrastructure.id_tag_copy import IdTagCopy

from ..conftest import RecordingNotifier, gateway_settings
from ..id_tag_events import updated


async def started(url: str, version: str, payload: dict[str, Any], action: str) -> str:
    async with connect(url + f"CP-{uuid.uuid4().hex[:8]}",
                       subprotocols=[f"ocpp{version}"]) as ws:
        await ws.send(json.dumps([2, "1", action, payload]))
        answer = json.loads(await asyncio.wait_for(ws.recv(), 5))
    info = answer[2].get("idTagInfo") or answer[2]["idTokenInfo"]
    return info["status"]


async def test_simultaneous_starts_with_a_limit_of_one_accept_exactly_one() -> None:
    id_tags = IdTagCopy()
    id_tags.apply(updated("RACE-16"))
    id_tags.apply(updated("RACE-201"))
    gateway = build_gateway(gateway_settings(gateway_unknown_id_tags="reject"),
                            RecordingNotifier(), id_tags=id_tags)
    await gateway.start()
    try:
        url = f"ws://127.0.0.1:{gateway.ocpp.port}/ocpp/"
        start_16 = {"connectorId": 1, "idTag": "RACE-16", "meterStart": 0,
                    "timestamp": "2026-12-05T12:00:00Z"}
        statuses = await asyncio.gather(*(started(url, "1.6", start_16, "StartTransaction")
                                          for _ in range(4)))
        assert sorted(statuses) == ["Accepted"] + ["ConcurrentTx"] * 3
        statuses = await asyncio.gather(*(started(url, "2.0.1", {
            "eventType": "Started", "timestamp": "2026-12-05T12:00:00Z",
            "triggerReason": "Authorized", "seqNo": 0,
            "transactionInfo": {"transactionId": f"tx-{n}"},
            "idToken": {"idToken": "race-201", "type": "ISO14443"}}, "TransactionEvent")
            for n in range(4)))
        assert sorted(statuses) == ["Accepted"] + ["ConcurrentTx"] * 3
    finally:
        await gateway.stop()
