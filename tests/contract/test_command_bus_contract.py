"""One contract for the remote-command wire, both ends together: save-server's CommandBus and the
gateway's CommandInbox, on RabbitMQ and on the embedded broker (journaled, as `make run`).
What both services rely on: a direct exchange routes a command by station id to the one gateway
holding that station; its reply comes back by correlation id; a station no gateway holds (never
connected, disconnected, its gateway stopped) is `not_connected` at once; an unanswered command
is a `timeout` after its own timeout. (save-server's API tests use a scripted CommandBus; this
suite is the reason they may.)"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from ocpp_events.domain.command_events import CommandReply
from ocpp_events.domain.command_events import CommandRequest as GatewayRequest
from ocpp_events.domain.ports import CommandInbox
from ocpp_events.infrastructure.amqp_commands import AmqpCommandInbox
from ocpp_events.infrastructure.inprocess_commands import InProcessCommandInbox
from save_server.domain.station_commands import CommandAnswer, CommandBus, CommandOutcome
from save_server.domain.station_commands import CommandRequest as ApiRequest
from save_server.infrastructure.commands.embedded import EmbeddedCommandBus
from save_server.infrastructure.commands.rabbitmq import RabbitCommandBus
from tests.support.brokers import TIME_FACTOR, JournalBroker, RabbitBroker

pytestmark = pytest.mark.contract


class Gateway:
    """A gateway's command handling: answers for the stations it holds, records what came."""

    def __init__(self, name: str, silent: bool = False) -> None:
        self.name, self.silent = name, silent
        self.held: set[str] = set()
        self.received: list[GatewayRequest] = []

    async def handle(self, request: GatewayRequest) -> CommandReply | None:
        self.received.append(request)
        if request.charging_station_id not in self.held:
            return None
        if self.silent:
            await asyncio.sleep(60)
        return CommandReply(request.command_id, "accepted", {"status": "Accepted"},
                            ocpp_version="1.6", action="Reset", extra={"by": self.name})


def command(station: str, timeout: float = 5.0) -> ApiRequest:
    return ApiRequest(str(uuid.uuid4()), station, "reset", {"type": "soft"},
                      timeout * TIME_FACTOR, "admin@example.org")


class CommandBusContract:
    def bus(self) -> CommandBus:
        raise NotImplementedError

    def inbox(self, instance: str) -> CommandInbox:
        raise NotImplementedError

    @pytest.fixture
    async def opened(self) -> AsyncIterator[list]:
        """Buses and inboxes to close after the test, whatever it asserted."""
        things: list = []
        yield things
        for thing in reversed(things):
            await thing.close()

    async def gateway(self, opened: list, name: str, *stations: str,
                      silent: bool = False) -> tuple[Gateway, CommandInbox]:
        gateway, inbox = Gateway(name, silent), self.inbox(name)
        opened.append(inbox)
        await inbox.start(gateway.handle)
        if hasattr(inbox, "wait_ready"):
            assert await inbox.wait_ready(10 * TIME_FACTOR)
        for station in stations:
            gateway.held.add(station)
            inbox.station_connected(station)
        return gateway, inbox

    async def open_bus(self, opened: list) -> CommandBus:
        bus = self.bus()
        opened.append(bus)
        return bus

    async def send_until(self, bus: CommandBus, station: str,
                         outcome: CommandOutcome) -> CommandAnswer:
        """Binding changes reach RabbitMQ a moment after the call: poll with a deadline."""
        for _ in range(50):
            answer = await bus.send(command(station, timeout=1))
            if answer.outcome == outcome:
                return answer
            await asyncio.sleep(0.05)
        raise AssertionError(f"{station}: never {outcome}, last {answer}")

    async def test_a_command_reaches_the_gateway_holding_the_station_and_its_reply_returns(
            self, opened: list) -> None:
        first, _ = await self.gateway(opened, "gw-1", "CP-a")
        second, _ = await self.gateway(opened, "gw-2", "CP-b")
        bus = await self.open_bus(opened)
        await self.send_until(bus, "CP-b", CommandOutcome.ACCEPTED)
        sent = command("CP-a")
        answer = await bus.send(sent)
        assert answer == CommandAnswer(CommandOutcome.ACCEPTED, {"status": "Accepted"},
                                       ocpp_version="1.6", action="Reset")
        [got] = [r for r in first.received if r.command_id == sent.command_id]
        assert (got.charging_station_id, got.command, got.parameters, got.requested_by) == (
            "CP-a", "reset", {"type": "soft"}, "admin@example.org")
        assert got.timeout == pytest.approx(sent.timeout)
        assert sent.command_id not in {r.command_id for r in second.received}

    async def test_a_station_no_gateway_holds_is_not_connected_at_once(
            self, opened: list) -> None:
        await self.gateway(opened, "gw-1", "CP-a")
        bus = await self.open_bus(opened)
        answer = await asyncio.wait_for(bus.send(command("CP-nobody", timeout=30)),
                                        5 * TIME_FACTOR)
        assert answer.outcome == CommandOutcome.NOT_CONNECTED

    async def test_a_disconnected_station_and_a_stopped_gateway_are_not_connected(
            self, opened: list) -> None:
        gateway, inbox = await self.gateway(opened, "gw-1", "CP-a", "CP-b")
        bus = await self.open_bus(opened)
        await self.send_until(bus, "CP-a", CommandOutcome.ACCEPTED)
        gateway.held.discard("CP-a")
        inbox.station_disconnected("CP-a")
        await self.send_until(bus, "CP-a", CommandOutcome.NOT_CONNECTED)
        await self.send_until(bus, "CP-b", CommandOutcome.ACCEPTED)
        await inbox.close()
        await self.send_until(bus, "CP-b", CommandOutcome.NOT_CONNECTED)

    async def test_an_unanswered_command_times_out_after_its_own_timeout(
            self, opened: list) -> None:
        gateway, _ = await self.gateway(opened, "gw-1", "CP-a", silent=True)
        bus = await self.open_bus(opened)
        for _ in range(50):  # until the binding is there: the gateway received it
            answer = await bus.send(command("CP-a", timeout=0.3))
            if gateway.received:
                break
        assert gateway.received and answer.outcome == CommandOutcome.TIMEOUT


@pytest.mark.integration
class TestRabbitCommandWire(CommandBusContract):
    @pytest.fixture(autouse=True)
    def broker_(self) -> Iterator[None]:
        self.broker = RabbitBroker()
        self.exchange = self.broker.name("commands")
        yield
        self.broker.close()

    def bus(self) -> CommandBus:
        return RabbitCommandBus(self.broker.url, self.exchange)

    def inbox(self, instance: str) -> CommandInbox:
        return AmqpCommandInbox(self.broker.url, self.exchange,
                                f"{instance}-{uuid.uuid4().hex[:6]}")


class TestEmbeddedCommandWire(CommandBusContract):
    @pytest.fixture(autouse=True)
    def broker_(self, tmp_path: Path) -> Iterator[None]:
        self.broker = JournalBroker(tmp_path / "broker.sqlite3")
        self.exchange = self.broker.name("commands")
        yield
        self.broker.close()

    def bus(self) -> CommandBus:
        return EmbeddedCommandBus(self.broker.broker, self.exchange, poll_seconds=0.05)

    def inbox(self, instance: str) -> CommandInbox:
        return InProcessCommandInbox(self.broker.broker, self.exchange, instance,
                                     poll_seconds=0.05)
