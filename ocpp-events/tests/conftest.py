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
from ocpp_events.domain.ports import Clock, Notifier, PublishFailed
from ocpp_events.domain.transaction_ids import TransactionIdAllocator
from ocpp_events.infrastructure.ocpp.session import GatewayServices, Session
from ocpp_events.infrastructure.ocpp.v16 import ChargePoint16
from ocpp_events.infrastructure.ocpp.v201 import ChargePoint201
from ocpp_events.service.publishing import ConfirmedPublisher

EVENTS_DIR = pathlib.Path(__file__).resolve().parents[2] / "docs" / "events"
NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


class FixedClock(Clock):
    def __init__(self, moment: datetime = NOW) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


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

    async def send(self, message: str) -> None:
        self.sent.append(message)

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
                           heartbeat_interval=300)


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
                              "gateway_disconnect_retry_seconds": 0.5}
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
async def make_gateway() -> AsyncIterator[Callable[..., Any]]:
    """Start gateways on free ports (127.0.0.1); all are stopped at teardown."""
    started: list[Gateway] = []

    async def start(notifier: Notifier | None = None, **overrides: Any) -> Gateway:
        gateway = build_gateway(gateway_settings(**overrides), notifier or RecordingNotifier())
        await gateway.start()
        started.append(gateway)
        return gateway

    yield start
    for gateway in reversed(started):
        await gateway.stop()
