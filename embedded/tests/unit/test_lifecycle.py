"""The launcher's stop rule with fake services: producers stop first, the consumed queues are
drained to empty, then every service stops; a second request skips the drain."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from csms_embedded.broker import InProcessBroker
from csms_embedded.lifecycle import StopRequests, run_together


class FakeService:
    """Records its steps in a shared journal; its 'worker' acks one message per call of
    `work` (what a consumer thread does), only while it has not been stopped."""

    def __init__(self, name: str, journal: list[str], broker: InProcessBroker,
                 consumes: tuple[str, ...] = (), fail_start: bool = False) -> None:
        self.name, self.consumes = name, consumes
        self.journal, self.broker, self.fail_start = journal, broker, fail_start
        self.ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.stopped = False

    async def start(self) -> None:
        if self.fail_start:
            raise OSError(f"{self.name} cannot listen")
        for queue in self.consumes:
            self.broker.declare_queue(queue, [("ocpp-events", "#")])
        self.journal.append(f"{self.name} started")

    async def wait(self) -> None:
        await self.ended

    async def stop_producing(self) -> None:
        self.journal.append(f"{self.name} stopped producing")

    async def stop(self) -> None:
        self.stopped = True
        left = sum(self.broker.pending(queue) for queue in self.consumes)
        self.journal.append(f"{self.name} stopped with {left} pending")

    def work(self) -> None:
        if self.stopped:
            return
        for queue in self.consumes:
            message = self.broker.get(queue, timeout=0)
            if message is not None:
                self.broker.ack(queue, message)


async def consume_slowly(service: FakeService) -> None:
    while True:
        await asyncio.sleep(0.01)
        service.work()


async def test_producers_stop_first_and_consumers_stop_only_once_their_queue_is_empty() -> None:
    broker, journal, requests = InProcessBroker(), [], StopRequests()
    store = FakeService("store", journal, broker, consumes=("store",))
    gateway = FakeService("gateway", journal, broker)
    run = asyncio.create_task(run_together(broker, [store, gateway], requests))
    await asyncio.sleep(0.01)
    for n in range(30):
        broker.publish("ocpp-events", "ocpp-events.heart-beat", str(n).encode())
    worker = asyncio.create_task(consume_slowly(store))
    requests.request()
    await asyncio.wait_for(run, 10)
    worker.cancel()
    assert journal[:2] == ["store started", "gateway started"]
    assert set(journal[2:4]) == {"store stopped producing", "gateway stopped producing"}
    assert set(journal[4:]) == {"store stopped with 0 pending", "gateway stopped with 0 pending"}


async def test_a_second_request_stops_without_waiting_for_the_drain(capsys) -> None:
    broker, journal, requests = InProcessBroker(), [], StopRequests()
    store = FakeService("store", journal, broker, consumes=("store",))
    run = asyncio.create_task(run_together(broker, [store], requests))
    await asyncio.sleep(0.01)
    broker.publish("ocpp-events", "ocpp-events.heart-beat", b"{}")  # nobody consumes it
    requests.request()
    await asyncio.sleep(0.2)
    assert not run.done(), "the first request waits for the queue to be drained"
    requests.request()
    await asyncio.wait_for(run, 5)
    assert journal[-1] == "store stopped with 1 pending"
    assert "1 events not yet stored are dropped" in capsys.readouterr().err


async def test_a_service_that_ends_by_itself_stops_the_others_and_is_named() -> None:
    broker, journal = InProcessBroker(), []
    api = FakeService("api", journal, broker)
    gateway = FakeService("gateway", journal, broker)
    run = asyncio.create_task(run_together(broker, [api, gateway]))
    await asyncio.sleep(0.01)
    api.ended.set_exception(SystemError("port lost"))
    with pytest.raises(RuntimeError, match="service api stopped") as raised:
        await asyncio.wait_for(run, 5)
    assert isinstance(raised.value.__cause__, SystemError)
    assert "gateway stopped with 0 pending" in journal


async def test_a_service_that_cannot_start_stops_those_already_started() -> None:
    broker, journal = InProcessBroker(), []
    store = FakeService("store", journal, broker, consumes=("store",))
    gateway = FakeService("gateway", journal, broker, fail_start=True)
    with pytest.raises(OSError, match="gateway cannot listen"):
        await run_together(broker, [store, gateway])
    assert journal == ["store started", "store stopped producing", "store stopped with 0 pending"]


async def test_cancelling_the_run_stops_the_services_by_the_same_rule() -> None:
    broker, journal = InProcessBroker(), []
    gateway = FakeService("gateway", journal, broker)
    run = asyncio.create_task(run_together(broker, [gateway]))
    await asyncio.sleep(0.01)
    run.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(run, 5)
    assert run.cancelled()
    assert journal == ["gateway started", "gateway stopped producing",
                       "gateway stopped with 0 pending"]
