"""Shared fixtures of the gateway's tests: fakes, schema validation, a gateway on free ports."""

from __future__ import annotations

import json
import os
import pathlib
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource

from ocpp_events.bootstrap import Gateway, build_gateway
from ocpp_events.config import Settings
from ocpp_events.domain.events import Event
from ocpp_events.domain.ports import Clock, Notifier, PublishFailed, StationRegistry
from ocpp_events.domain.transaction_ids import TransactionIdAllocator
from ocpp_events.infrastructure.ocpp.session import GatewayServices, Session
from ocpp_events.infrastructure.ocpp.v16 import ChargePoint16
from ocpp_events.infrastructure.ocpp.v201 import ChargePoint201
from ocpp_events.service.publishing import ConfirmedPublisher
from tests.support.ports import free_port

EVENTS_DIR = pathlib.Path(__file__).resolve().parents[2] / "docs" / "events"
NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


class FixedClock(Clock):
    def __init__(self, moment: datetime = NOW) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment

    async def sleep_until(self, moment: datetime) -> None:
        self.moment = max(self.moment, moment)


class RecordingNotifier(Notifier):
    """Keeps published events; `failing = True` makes every publish unconfirmed."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.failing = False

    async def publish(self, event: Event) -> None:
        if self.failing:
            raise PublishFailed("broker down (test)")
        self.events.append(event)

    def is_ready(self) -> bool:
        return not self.failing

    def of_type(self, event_type: str) -> list[Event]:
        return [e for e in self.events if e.type == event_type]


class FakeConnection:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.closed: tuple[int, str] | None = None

    async def send(self, message: str) -> None:
        self.sent.append(message)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = (code, reason)

    def last(self) -> Any:
        return json.loads(self.sent[-1])


@pytest.fixture
def notifier() -> RecordingNotifier:
    return RecordingNotifier()


@pytest.fixture
def new_notifier() -> Callable[[], RecordingNotifier]:
    return RecordingNotifier


@pytest.fixture
def services(notifier: RecordingNotifier) -> GatewayServices:
    clock = FixedClock()
    return GatewayServices(publisher=ConfirmedPublisher(notifier, 1.0),
                           transaction_ids=TransactionIdAllocator(clock), clock=clock,
                           heartbeat_interval=300, validate_responses=True)


@pytest.fixture
def station_id() -> str:
    return f"CP-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def charge_point_16(services: GatewayServices, station_id: str) -> ChargePoint16:
    session = Session(station_id, str(uuid.uuid4()), "1.6")
    return ChargePoint16(session, services, FakeConnection())


@pytest.fixture
def charge_point_201(services: GatewayServices, station_id: str) -> ChargePoint201:
    session = Session(station_id, str(uuid.uuid4()), "2.0.1")
    return ChargePoint201(session, services, FakeConnection())


def _schema_registry() -> Registry:
    resources = []
    for path in EVENTS_DIR.glob("*.schema.json"):
        schema = json.loads(path.read_text())
        resource = Resource.from_contents(schema)
        resources.append((schema["$id"], resource))
        resources.append((path.name, resource))
    return Registry().with_resources(resources)


@pytest.fixture(scope="session")
def validate_event() -> Callable[[dict[str, Any]], None]:
    """Validate one event (as a dict) against docs/events/<type>.schema.json."""
    registry = _schema_registry()

    def validate(event: dict[str, Any]) -> None:
        name = event["type"].removeprefix("ocpp-events.") + ".schema.json"
        path = EVENTS_DIR / name
        assert path.exists(), f"no schema {name} for {event['type']}"
        schema = json.loads(path.read_text())
        jsonschema.Draft202012Validator(
            schema, registry=registry,
            format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
        ).validate(event)

    return validate


def gateway_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"gateway_host": "127.0.0.1", "gateway_port": 0,
                              "gateway_http_port": 0, "gateway_publish_timeout": 2.0,
                              "gateway_disconnect_retry_seconds": 0.5,
                              "gateway_validate_responses": True,
                              # Most tests are about the OCPP layer, not admission.
                              "gateway_unknown_stations": "auto-register",
                              "gateway_unknown_id_tags": "accept"}
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
async def make_gateway() -> AsyncIterator[Callable[..., Any]]:
    """Start gateways on free ports (127.0.0.1); all are stopped at teardown."""
    started: list[Gateway] = []

    async def start(notifier: Notifier | None = None,
                    station_registry: StationRegistry | None = None,
                    **overrides: Any) -> Gateway:
        gateway = build_gateway(gateway_settings(**overrides), notifier or RecordingNotifier(),
                                station_registry=station_registry)
        await gateway.start()
        started.append(gateway)
        return gateway

    yield start
    for gateway in reversed(started):
        await gateway.stop()


# --- real RabbitMQ and gateway subprocesses -------------------------------------------------
async def connect_rabbitmq(url: str):
    """An aio-pika connection to the real RabbitMQ; under CI=true a missing broker fails the
    test, locally it skips it."""
    import aio_pika

    try:
        connection = await aio_pika.connect(url, timeout=3)
    except Exception as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"RabbitMQ not reachable at {url}: {error!r}")
        pytest.skip(f"RabbitMQ not reachable at {url}")
    return connection


@pytest.fixture
async def rabbit_queue():
    """A unique exchange with a queue bound to `#` on the real RabbitMQ; both deleted after."""
    import aio_pika

    url = os.environ.get("AMQP_URL", AMQP_URL)
    connection = await connect_rabbitmq(url)
    channel = await connection.channel()
    exchange_name = f"test-ocpp-events-{uuid.uuid4().hex[:12]}"
    exchange = await channel.declare_exchange(exchange_name, aio_pika.ExchangeType.TOPIC,
                                              durable=True)
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(exchange, "#")
    yield url, exchange_name, queue
    await queue.delete(if_unused=False, if_empty=False)
    await channel.exchange_delete(exchange_name)
    await channel.exchange_delete(f"{exchange_name}.commands")  # gateway processes' commands
    await channel.exchange_delete(f"{exchange_name}.registry")  # their station registry feed
    await connection.close()




class GatewayProcess:
    """`python -m ocpp_events serve` in a subprocess on fixed free ports."""

    def __init__(self, amqp_url: str, exchange: str, log_path: pathlib.Path | None = None,
                 **env: str) -> None:
        self.amqp_url, self.exchange = amqp_url, exchange
        self.port, self.http_port = free_port(), free_port()
        self.process: Any = None
        self.log_path = log_path
        self.extra_env = env

    async def start(self, timeout: float = 15.0) -> GatewayProcess:
        import asyncio
        import sys

        import httpx

        env = dict(os.environ, AMQP_URL=self.amqp_url, AMQP_EXCHANGE=self.exchange,
                   GATEWAY_HOST="127.0.0.1", GATEWAY_PORT=str(self.port),
                   GATEWAY_HTTP_PORT=str(self.http_port), LOG_LEVEL="WARNING",
                   AMQP_COMMAND_EXCHANGE=f"{self.exchange}.commands",
                   GATEWAY_UNKNOWN_STATIONS="auto-register", GATEWAY_UNKNOWN_ID_TAGS="accept")
        env.update(self.extra_env)
        log_file = self.log_path.open("ab") if self.log_path else None
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ocpp_events", "serve", env=env, stderr=log_file)
        if log_file is not None:
            log_file.close()
        deadline = asyncio.get_running_loop().time() + timeout
        async with httpx.AsyncClient() as http:
            while True:
                try:
                    ready = await http.get(f"http://127.0.0.1:{self.http_port}/ready")
                    if ready.status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                assert self.process.returncode is None, "gateway process exited"
                assert asyncio.get_running_loop().time() < deadline, "gateway never ready"
                await asyncio.sleep(0.05)

    async def terminate(self, timeout: float = 15.0) -> int:
        import asyncio
        import signal

        if self.process is None or self.process.returncode is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), timeout)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp/"


@pytest.fixture
async def gateway_processes():
    """Factory of gateway subprocesses; any still running are killed at teardown."""
    started: list[GatewayProcess] = []

    def make(amqp_url: str, exchange: str, log_path: pathlib.Path | None = None,
             **env: str) -> GatewayProcess:
        process = GatewayProcess(amqp_url, exchange, log_path, **env)
        started.append(process)
        return process

    yield make
    for gateway in started:
        if gateway.process is not None and gateway.process.returncode is None:
            gateway.process.kill()
            await gateway.process.wait()
