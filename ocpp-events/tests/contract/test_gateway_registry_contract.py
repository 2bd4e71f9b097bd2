"""One contract for every StationRegistry adapter: the in-memory fake, the in-process broker's
and RabbitMQ's. Each subclass says how a registry event reaches it; the tests are shared."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from csms_embedded.broker import InProcessBroker
from csms_embedded.journal import Journal
from ocpp_events.domain.ports import StationRegistry
from ocpp_events.infrastructure.amqp_registry import AmqpStationRegistry
from ocpp_events.infrastructure.inprocess_registry import InProcessStationRegistry
from ocpp_events.infrastructure.registry_memory import InMemoryStationRegistry

from ..conftest import AMQP_URL, connect_rabbitmq
from ..registry_events import deregistered, new_password, password_entry, registered, snapshot

pytestmark = pytest.mark.contract
TIME_FACTOR = float(os.environ.get("TEST_TIME_FACTOR", "1"))


async def eventually(predicate, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout * TIME_FACTOR
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "not seen in time"
        await asyncio.sleep(0.01)


class StationRegistryContract:
    keeps_a_file = True

    async def open(self, path: Path) -> StationRegistry:
        raise NotImplementedError

    async def send(self, body: bytes) -> None:
        raise NotImplementedError

    async def publish(self, event: dict[str, Any]) -> None:
        await self.send(json.dumps(event).encode())

    @pytest.fixture
    async def registry(self, tmp_path: Path) -> AsyncIterator[StationRegistry]:
        registry = await self.open(tmp_path / "registry.json")
        yield registry
        await registry.close()

    async def test_a_registration_becomes_visible_and_listeners_hear_it(self, registry) -> None:
        heard: list[list[str]] = []
        registry.on_change(heard.append)
        password = new_password()
        await self.publish(registered("CP-a", 2, password_entry(password)))
        await eventually(lambda: registry.get("CP-a") is not None)
        assert registry.get("CP-a").security_profile == 2
        assert heard == [["CP-a"]]
        assert len(registry) == 1

    async def test_changes_apply_in_revision_order_and_deregistration_removes(
            self, registry) -> None:
        await self.publish(registered("CP-b", 1, revision=100))
        await self.publish(registered("CP-b", 2, kind="station-updated", revision=101))
        await self.publish(registered("CP-b", 0, kind="station-updated", revision=99))
        await self.publish(registered("CP-c", 0, revision=102))
        await eventually(lambda: registry.get("CP-c") is not None)
        assert registry.get("CP-b").security_profile == 2
        await self.publish(deregistered("CP-b", revision=103))
        await eventually(lambda: registry.get("CP-b") is None)

    async def test_a_message_outside_the_contract_is_dropped_and_the_next_applies(
            self, registry) -> None:
        await self.send(b"not json")
        await self.publish({"type": "station-registry.station-registered"})
        await self.publish(registered("CP-d", 0))
        await eventually(lambda: registry.get("CP-d") is not None)
        assert len(registry) == 1

    async def test_a_snapshot_replaces_the_copy(self, registry) -> None:
        await self.publish(registered("CP-gone", 1, revision=10))
        await eventually(lambda: registry.get("CP-gone") is not None)
        station = registered("CP-e", 3, revision=11)["payload"]
        await self.publish(snapshot([{**station, "revision": 11}], revision=12))
        await eventually(lambda: registry.get("CP-gone") is None)
        assert registry.get("CP-e").security_profile == 3

    async def test_the_copy_survives_a_restart_without_any_message(self, tmp_path) -> None:
        if not self.keeps_a_file:
            pytest.skip("this adapter keeps nothing on disk")
        first = await self.open(tmp_path / "kept.json")
        await self.publish(registered("CP-f", 1, password_entry(new_password())))
        await eventually(lambda: first.get("CP-f") is not None)
        await first.close()
        await self.drain()
        second = await self.open(tmp_path / "kept.json")
        try:
            assert second.get("CP-f") is not None  # at once: nothing was published since
        finally:
            await second.close()

    async def drain(self) -> None:
        """Forget messages still queued for a closed registry (none by default)."""


class TestInMemoryStationRegistry(StationRegistryContract):
    keeps_a_file = False

    async def open(self, path: Path) -> StationRegistry:
        self.fake = InMemoryStationRegistry()
        await self.fake.start()
        return self.fake

    async def send(self, body: bytes) -> None:
        self.fake.receive(body)


class TestInProcessStationRegistry(StationRegistryContract):
    @pytest.fixture(autouse=True)
    def broker(self, tmp_path: Path) -> None:
        self.broker = InProcessBroker(Journal(tmp_path / "broker.sqlite3"))  # as `make run`
        self.exchange = f"test-{uuid.uuid4().hex[:8]}"

    async def open(self, path: Path) -> StationRegistry:
        registry = InProcessStationRegistry(self.broker, self.exchange, uuid.uuid4().hex[:8],
                                            path, poll_seconds=0.05)
        await registry.start()
        return registry

    async def send(self, body: bytes) -> None:
        self.broker.publish(self.exchange, json.loads(body).get("type", "station-registry.x")
                            if body.startswith(b"{") else "station-registry.x", body)

    async def test_it_asks_for_a_snapshot_when_it_starts(self, tmp_path) -> None:
        self.broker.declare_queue("save-server", [(self.exchange, "station-registry.#")])
        registry = await self.open(tmp_path / "r.json")
        try:
            request = json.loads(self.broker.get("save-server", timeout=1).body)
            assert request["type"] == "station-registry.snapshot-requested"
            assert request["payload"]["gateway_instance"] == registry.instance_id
        finally:
            await registry.close()


@pytest.mark.integration
class TestAmqpStationRegistry(StationRegistryContract):
    @pytest.fixture(autouse=True)
    async def exchange(self) -> AsyncIterator[None]:
        import aio_pika

        self.url = os.environ.get("AMQP_URL", AMQP_URL)
        connection = await connect_rabbitmq(self.url)
        self.channel = await connection.channel()
        self.exchange_name = f"test-registry-{uuid.uuid4().hex[:10]}"
        self.exchange_object = await self.channel.declare_exchange(
            self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
        yield
        await self.channel.exchange_delete(self.exchange_name)
        await connection.close()

    async def open(self, path: Path) -> StationRegistry:
        registry = AmqpStationRegistry(self.url, self.exchange_name, uuid.uuid4().hex[:8], path)
        await registry.start()
        assert await registry.wait_ready(10 * TIME_FACTOR)
        return registry

    async def send(self, body: bytes) -> None:
        import aio_pika

        routing_key = (json.loads(body).get("type", "station-registry.x")
                       if body.startswith(b"{") else "station-registry.x")
        await self.exchange_object.publish(aio_pika.Message(body), routing_key=routing_key)

    async def test_it_asks_for_a_snapshot_when_it_starts(self, tmp_path) -> None:
        queue = await self.channel.declare_queue(exclusive=True)
        await queue.bind(self.exchange_object, "station-registry.snapshot-requested")
        registry = await self.open(tmp_path / "r.json")
        try:
            message = await queue.get(timeout=5, fail=False)
            for _ in range(50):
                if message is not None:
                    break
                await asyncio.sleep(0.1)
                message = await queue.get(timeout=5, fail=False)
            assert message is not None, "no snapshot request"
            request = json.loads(message.body)
            assert request["payload"]["gateway_instance"] == registry.instance_id
        finally:
            await registry.close()
