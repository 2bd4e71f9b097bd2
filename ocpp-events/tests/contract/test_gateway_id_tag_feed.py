"""The id tag copy fed through each broker-fed registry adapter (in-process broker, RabbitMQ):
events on the registry exchange reach it, it asks for its snapshot at start, and the copy on
disk answers after a restart while nothing (RabbitMQ: not even the broker) is reachable."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from csms_embedded.broker import InProcessBroker
from ocpp_events.infrastructure.amqp_registry import AmqpStationRegistry
from ocpp_events.infrastructure.id_tag_copy import IdTagCopy
from ocpp_events.infrastructure.inprocess_registry import InProcessStationRegistry
from ocpp_events.infrastructure.registry_fed import OFF_LOOP_BYTES, FileBackedRegistry

from ..conftest import AMQP_URL, connect_rabbitmq, free_port
from ..id_tag_events import active_charges, removed, snapshot, tag, updated
from ..registry_events import registered
from .test_gateway_registry_contract import TIME_FACTOR, eventually


class IdTagFeedContract:
    async def open(self, path: Path, id_tags: IdTagCopy) -> FileBackedRegistry:
        raise NotImplementedError

    async def publish(self, event: dict[str, Any]) -> None:
        raise NotImplementedError

    async def snapshot_requests(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    @pytest.fixture
    async def fed(self, tmp_path: Path) -> AsyncIterator[tuple[FileBackedRegistry, IdTagCopy]]:
        id_tags = IdTagCopy(tmp_path / "id-tags.json")
        registry = await self.open(tmp_path / "registry.json", id_tags)
        yield registry, id_tags
        await registry.close()

    async def test_tag_events_reach_the_id_tag_copy_and_station_events_the_registry(
            self, fed) -> None:
        registry, id_tags = fed
        await self.publish(updated("CARD-a", status="blocked"))
        await self.publish(active_charges("card-a", ("CP-1", "1")))
        await self.publish(registered("CP-feed", 0))
        await eventually(lambda: registry.get("CP-feed") is not None)
        await eventually(lambda: id_tags.active_charges("CARD-A") is not None)
        assert id_tags.get("card-a").status == "blocked"
        assert len(registry) == 1 and len(id_tags) == 1
        await self.publish(removed("CARD-A"))
        await eventually(lambda: id_tags.get("card-a") is None)

    async def test_a_snapshot_replaces_the_id_tag_copy(self, fed) -> None:
        _, id_tags = fed
        await self.publish(updated("gone", revision=10))
        await eventually(lambda: id_tags.get("gone") is not None)
        await self.publish(snapshot([{**tag("kept"), "revision": 11}], 12))
        await eventually(lambda: id_tags.get("gone") is None)
        assert id_tags.get("kept") is not None

    async def test_a_big_snapshot_is_parsed_off_the_event_loop(self, fed) -> None:
        _, id_tags = fed
        threads: list[str] = []  # where messages of the snapshot's size were decoded
        decode = id_tags.decode

        def recording(body: bytes):
            if len(body) >= OFF_LOOP_BYTES:
                threads.append(threading.current_thread().name)
            return decode(body)

        id_tags.decode = recording  # type: ignore[method-assign]
        tags = [{**tag(f"BIG-{n:05d}", group_id="APTO-1", site_ids=["site-a"]), "revision": n}
                for n in range(1, 2001)]
        event = snapshot(tags, 2001)
        assert len(json.dumps(event)) > OFF_LOOP_BYTES
        await self.publish(event)
        await eventually(lambda: len(id_tags) == 2000)
        assert id_tags.get("big-01234").group_id == "APTO-1"
        assert len(threads) == 1 and threads[0] != threading.main_thread().name

    async def test_it_asks_for_both_snapshots_when_it_starts(self, tmp_path) -> None:
        await self.snapshot_requests()  # bind before the start
        registry = await self.open(tmp_path / "r.json", IdTagCopy())
        try:
            requests: list[dict[str, Any]] = []
            for _ in range(50):
                requests += await self.snapshot_requests()
                if len(requests) >= 2:
                    break
                await asyncio.sleep(0.1)
            assert sorted(r["type"] for r in requests) == [
                "id-tag-registry.snapshot-requested", "station-registry.snapshot-requested"]
            assert {r["payload"]["gateway_instance"] for r in requests} == {
                registry.instance_id}
        finally:
            await registry.close()


class TestInProcessIdTagFeed(IdTagFeedContract):
    @pytest.fixture(autouse=True)
    def broker(self) -> None:
        self.broker = InProcessBroker()
        self.exchange = f"test-{uuid.uuid4().hex[:8]}"

    async def open(self, path: Path, id_tags: IdTagCopy) -> FileBackedRegistry:
        registry = InProcessStationRegistry(self.broker, self.exchange, uuid.uuid4().hex[:8],
                                            path, poll_seconds=0.05, feeds=[id_tags])
        await registry.start()
        return registry

    async def publish(self, event: dict[str, Any]) -> None:
        self.broker.publish(self.exchange, event["type"], json.dumps(event).encode())

    async def snapshot_requests(self) -> list[dict[str, Any]]:
        self.broker.declare_queue("requests", [(self.exchange, "*.snapshot-requested")])
        requests = []
        while (message := self.broker.get("requests", timeout=0.05)) is not None:
            requests.append(json.loads(message.body))
            self.broker.ack("requests", message)
        return requests

    async def test_the_copy_answers_after_a_restart_without_any_message(self, tmp_path) -> None:
        first = IdTagCopy(tmp_path / "id-tags.json")
        registry = await self.open(tmp_path / "r.json", first)
        await self.publish(updated("CARD-kept", status="blocked"))
        await eventually(lambda: first.get("card-kept") is not None)
        await registry.close()
        second = IdTagCopy(tmp_path / "id-tags.json")  # loaded at once, nothing published
        assert second.get("CARD-KEPT").status == "blocked"


@pytest.mark.integration
class TestAmqpIdTagFeed(IdTagFeedContract):
    @pytest.fixture(autouse=True)
    async def exchange(self) -> AsyncIterator[None]:
        import aio_pika

        self.url = os.environ.get("AMQP_URL", AMQP_URL)
        connection = await connect_rabbitmq(self.url)
        self.channel = await connection.channel()
        self.exchange_name = f"test-id-tags-{uuid.uuid4().hex[:10]}"
        self.exchange_object = await self.channel.declare_exchange(
            self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
        self.requests_queue: Any = None
        yield
        await self.channel.exchange_delete(self.exchange_name)
        await connection.close()

    async def open(self, path: Path, id_tags: IdTagCopy,
                   url: str | None = None) -> FileBackedRegistry:
        registry = AmqpStationRegistry(url or self.url, self.exchange_name,
                                       uuid.uuid4().hex[:8], path, feeds=[id_tags])
        await registry.start()
        if url is None:
            assert await registry.wait_ready(10 * TIME_FACTOR)
        return registry

    async def publish(self, event: dict[str, Any]) -> None:
        import aio_pika

        await self.exchange_object.publish(aio_pika.Message(json.dumps(event).encode()),
                                           routing_key=event["type"])

    async def snapshot_requests(self) -> list[dict[str, Any]]:
        if self.requests_queue is None:
            self.requests_queue = await self.channel.declare_queue(exclusive=True)
            await self.requests_queue.bind(self.exchange_object, "*.snapshot-requested")
        requests = []
        while (message := await self.requests_queue.get(timeout=1, fail=False)) is not None:
            requests.append(json.loads(message.body))
            await message.ack()
        return requests

    async def test_the_copy_answers_after_a_restart_with_no_broker(self, tmp_path) -> None:
        first = IdTagCopy(tmp_path / "id-tags.json")
        registry = await self.open(tmp_path / "r.json", first)
        await self.publish(updated("CARD-kept", status="blocked"))
        await eventually(lambda: first.get("card-kept") is not None)
        await registry.close()
        second = IdTagCopy(tmp_path / "id-tags.json")
        nowhere = f"amqp://guest:guest@127.0.0.1:{free_port()}/"  # nothing listens there
        offline = await self.open(tmp_path / "r.json", second, url=nowhere)
        try:
            assert not offline.is_ready()
            assert second.get("CARD-KEPT").status == "blocked"
        finally:
            await offline.close()
