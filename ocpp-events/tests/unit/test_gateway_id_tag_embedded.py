"""Embedded mode: unknown id tags accepted by default (printed at start-up, events flagged for
enrolment), and a tag change on the in-process registry exchange changes the next answer."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from websockets.asyncio.client import connect

from csms_embedded.broker import InProcessBroker
from ocpp_events.config import Settings
from ocpp_events.entrypoints import EmbeddedGateway

from ..conftest import free_port
from ..id_tag_events import updated


def settings(**overrides) -> Settings:
    exchange = f"test-{uuid.uuid4().hex[:8]}"
    return Settings(gateway_host="127.0.0.1", gateway_port=free_port(),
                    gateway_http_port=free_port(), amqp_exchange=exchange, **overrides)


async def authorize(port: int, station_id: str, id_tag: str) -> str:
    async with connect(f"ws://127.0.0.1:{port}/ocpp/{station_id}",
                       subprotocols=["ocpp1.6"]) as ws:
        await ws.send(json.dumps([2, "1", "Authorize", {"idTag": id_tag}]))
        return json.loads(await ws.recv())[2]["idTagInfo"]["status"]


async def test_embedded_accepts_unknown_tags_loudly_and_applies_tag_changes(
        tmp_path, station_id, capsys) -> None:
    broker = InProcessBroker()
    config = settings()
    broker.declare_queue("all", [(config.amqp_exchange, "#")])
    embedded = EmbeddedGateway(broker, tmp_path, config)
    assert "WARNING: unknown id tags are accepted" in capsys.readouterr().out
    await embedded.start()
    try:
        port = embedded.gateway.ocpp.port
        assert await authorize(port, station_id, "NEW-CARD") == "Accepted"
        events = [json.loads(m.body) for m in iter(lambda: broker.get("all", timeout=0), None)]
        [event] = [e for e in events if e["type"] == "ocpp-events.authorize"]
        assert event["authorization"] == {"id_tag": "NEW-CARD", "known": False,
                                          "unknown_accepted": True}
        change = updated("new-card", status="blocked")
        broker.publish(config.registry_exchange, change["type"], json.dumps(change).encode())
        for _ in range(250):
            if await authorize(port, station_id, "NEW-CARD") == "Blocked":
                break
            await asyncio.sleep(0.02)
        else:
            pytest.fail("the tag change never reached the embedded gateway")
    finally:
        await embedded.stop()
    assert (tmp_path / "gateway-id-tags.json").exists()


async def test_embedded_reject_policy_is_quiet_and_refuses_unknown_tags(
        tmp_path, station_id, capsys) -> None:
    embedded = EmbeddedGateway(InProcessBroker(), tmp_path,
                               settings(gateway_unknown_id_tags="reject",
                                        gateway_require_routed=False,
                                        gateway_disconnect_retry_seconds=0))
    assert "unknown id tags" not in capsys.readouterr().out
    await embedded.start()
    try:
        assert await authorize(embedded.gateway.ocpp.port, station_id, "NEW-CARD") == "Invalid"
    finally:
        await embedded.stop()
