"""Broker outage (the link to RabbitMQ cut through a proxy): nothing acknowledged is lost."""

from __future__ import annotations

import asyncio
import contextlib
import json
from urllib.parse import urlsplit, urlunsplit

import pytest
from websockets.asyncio.client import connect

from ocpp_events.infrastructure.amqp_notifier import AmqpNotifier

pytestmark = pytest.mark.integration


class CuttableProxy:
    """TCP proxy to RabbitMQ; `cut()` drops every connection and refuses new ones."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target_host, self._target_port = target_host, target_port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(
            self._target_host, self._target_port)
        self._writers |= {writer, upstream_writer}

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.transport.abort()

        await asyncio.gather(pump(reader, upstream_writer), pump(upstream_reader, writer))
        self._writers -= {writer, upstream_writer}


async def test_calls_during_an_outage_are_refused_and_every_acknowledged_one_is_stored(
        rabbit_queue, make_gateway, station_id):
    amqp_url, exchange, queue = rabbit_queue
    broker = urlsplit(amqp_url)
    proxy = CuttableProxy(broker.hostname or "127.0.0.1", broker.port or 5672)
    await proxy.start()
    proxied = broker._replace(netloc=f"{broker.username}:{broker.password}@127.0.0.1:{proxy.port}")
    notifier = AmqpNotifier(urlunsplit(proxied), exchange,
                            reconnect_interval=0.3)
    gateway = await make_gateway(notifier, gateway_publish_timeout=1.0)
    assert await notifier.wait_connected(5)
    answered: dict[str, str] = {}
    async with connect(f"ws://127.0.0.1:{gateway.ocpp.port}/ocpp/{station_id}",
                       subprotocols=["ocpp1.6"]) as ws:

        async def heartbeat(n: int) -> None:
            await ws.send(json.dumps([2, f"hb-{n}", "Heartbeat", {}]))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
            answered[reply[1]] = "result" if reply[0] == 3 else reply[2]

        await heartbeat(0)
        await proxy.cut()
        for n in range(1, 6):
            await heartbeat(n)
            await asyncio.sleep(0.2)
        assert not notifier.is_ready()  # /ready answers 503 during the outage
        await proxy.start()  # broker reachable again, same port
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        n = 6
        while answered.get(f"hb-{n - 1}") != "result":
            assert loop.time() < deadline, f"never recovered: {answered}"
            await heartbeat(n)
            n += 1
            await asyncio.sleep(0.2)
        assert gateway.ocpp.registry.get(station_id) is not None  # never disconnected
        assert notifier.is_ready()
    assert answered["hb-0"] == "result"
    assert {answered[f"hb-{i}"] for i in range(1, 6)} == {"InternalError"}
    stored = set()
    for _ in range(100):
        message = await queue.get(no_ack=True, fail=False)
        if message is None:
            break
        body = json.loads(message.body)
        if body["type"] == "ocpp-events.heart-beat":
            stored.add(body["message_id"])
    acknowledged = {unique_id for unique_id, result in answered.items() if result == "result"}
    assert acknowledged <= stored, acknowledged - stored
