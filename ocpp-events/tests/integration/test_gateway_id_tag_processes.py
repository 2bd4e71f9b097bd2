"""Two `python -m ocpp_events serve` processes on the real RabbitMQ, no save-server (the test
plays it): the id tag snapshot each asks for at start is applied, a tag change reaches both
answers within 5 s, a charge started on one gateway limits the other once save-server's
`active-charges` arrives, and a restarted gateway answers from its file while nobody answers."""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

import aio_pika
import pytest
from websockets.asyncio.client import connect

from ..id_tag_events import active_charges, snapshot, tag, updated
from ..registry_events import next_revision
from ..unit.test_gateway_handshake_admission import call, new_id
from .test_gateway_registry_processes import drained

pytestmark = pytest.mark.integration
TIME_FACTOR = float(os.environ.get("TEST_TIME_FACTOR", "1"))


async def status(base_url: str, id_tag: str, action: str = "Authorize") -> str:
    payload: dict[str, Any] = {"idTag": id_tag}
    if action == "StartTransaction":
        payload |= {"connectorId": 1, "meterStart": 0, "timestamp": "2026-12-05T12:00:00Z"}
    async with connect(base_url + new_id(), subprotocols=["ocpp1.6"]) as ws:
        answer = await call(ws, action, payload)
    assert answer[0] == 3, answer
    return answer[2]["idTagInfo"]["status"]


async def answers_within(base_url: str, id_tag: str, expected: str, seconds: float) -> float:
    started = time.monotonic()
    while (seen := await status(base_url, id_tag)) != expected:
        assert time.monotonic() - started < seconds * TIME_FACTOR, (
            f"{base_url} still answers {seen} for {id_tag}")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_id_tags_reach_two_gateways_and_limit_charges_across_them(
        rabbit_queue, gateway_processes, tmp_path) -> None:
    url, exchange_name, everything = rabbit_queue
    connection = await aio_pika.connect(url)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(f"{exchange_name}.registry",
                                              aio_pika.ExchangeType.TOPIC, durable=True)
    requests = await channel.declare_queue(exclusive=True)
    await requests.bind(exchange, "id-tag-registry.snapshot-requested")

    async def publish(event: dict) -> None:
        await exchange.publish(aio_pika.Message(json.dumps(event).encode()),
                               routing_key=event["type"])

    gateways = [gateway_processes(url, exchange_name, tmp_path / f"gateway-{n}.log",
                                  GATEWAY_UNKNOWN_ID_TAGS="reject",
                                  DATA_DIR=str(tmp_path / f"data-{n}"))
                for n in (1, 2)]
    for gateway in gateways:
        await gateway.start()

    # each gateway asked for the snapshot at start; save-server's answer reaches both
    asked = [event["payload"]["gateway_instance"] for event in await drained(requests)]
    assert len(asked) == 2
    revision = next_revision()
    await publish(snapshot([{**tag("SNAP-CARD"), "revision": revision}], revision))
    for gateway in gateways:
        await answers_within(gateway.url, "snap-card", "Accepted", 5)
        assert await status(gateway.url, "NOBODY") == "Invalid"

    await publish(updated("SNAP-CARD", status="blocked"))
    for gateway in gateways:
        assert await answers_within(gateway.url, "SNAP-CARD", "Blocked", 5) < 5 * TIME_FACTOR

    # one charge at a time: each gateway refuses a second start it sees itself at once; a
    # start on the other gateway counts once save-server publishes the tag's active charges
    await publish(updated("SHARED"))
    for gateway in gateways:
        await answers_within(gateway.url, "SHARED", "Accepted", 5)
    assert await status(gateways[0].url, "SHARED", "StartTransaction") == "Accepted"
    assert await status(gateways[0].url, "SHARED", "StartTransaction") == "ConcurrentTx"
    assert await status(gateways[1].url, "SHARED") == "Accepted"  # not seen there yet
    await publish(active_charges("SHARED", ("CP-somewhere", "1")))
    await answers_within(gateways[1].url, "SHARED", "ConcurrentTx", 5)

    authorizations = [event.get("authorization") for event in await drained(everything)
                      if event["type"] == "ocpp-events.authorize"]
    assert {"id_tag": "NOBODY", "known": False, "unknown_accepted": False} in authorizations
    assert {"id_tag": "SNAP-CARD", "known": True, "unknown_accepted": False} in authorizations

    # gateway 2 restarts while nobody answers its snapshot request: its file answers
    await asyncio.sleep(0.5)  # the file is written within 0.2 s of a change
    assert await gateways[1].terminate() == 0
    await gateways[1].start()
    assert await status(gateways[1].url, "SNAP-CARD") == "Blocked"
    assert await status(gateways[1].url, "SHARED") == "ConcurrentTx"
    assert len(await drained(requests)) == 1  # it asked again
    await connection.close()
