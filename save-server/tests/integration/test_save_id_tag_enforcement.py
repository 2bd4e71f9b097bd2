"""Enforcement after the fact: a race of two gateways over a tag's concurrency limit and a
budget used up during a charge end in a remote stop through the command path."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from save_server.bootstrap import Container
from save_server.domain.id_tags import IdTag, IdTagGroup
from save_server.domain.station_commands import CommandAnswer, CommandOutcome
from save_server.infrastructure.outbox.tables import outbox_events
from save_server.infrastructure.translation import parse_envelope, translate
from save_server.service.ingest import ingest_event

from .test_save_commands_api import ScriptedBus

pytestmark = pytest.mark.integration
STOPPED = CommandAnswer(CommandOutcome.ACCEPTED, {"status": "Accepted"})


def ingest(container: Container, *events: dict[str, Any]) -> None:
    for event in events:
        envelope = parse_envelope(json.dumps(event).encode())
        ingest_event(container.uow_factory, str(envelope.event_id), envelope.type,
                     translate(envelope))


def recent(charger: Callable[..., Any]) -> Any:
    return charger(start=datetime.now(UTC) - timedelta(minutes=30))  # this month, mostly


class StoppingBus(ScriptedBus):
    """Every station accepts the stop (the PostgreSQL database is shared by the tests: the
    enforcement also sees other tests' charges, so tests look at their own stations only)."""

    async def send(self, request: Any) -> CommandAnswer:
        self.requests.append(request)
        return STOPPED


def check(container: Container, bus: ScriptedBus, stations: set[str],
          action: str = "stop") -> list[Any]:
    enforcement = container.id_tag_enforcement(container.station_commands(bus))
    enforcement.budget_action = action  # type: ignore[assignment]

    async def twice() -> list[Any]:
        first = await enforcement.check_once()
        assert await enforcement.check_once() == []  # each charge is stopped once
        return [d for d in first if d.station_id in stations]
    return asyncio.run(twice())


def stops(bus: ScriptedBus, stations: set[str]) -> list[tuple[str, str | None]]:
    return [(r.station_id, r.parameters.get("transaction_id")) for r in bus.requests
            if r.command == "remote-stop" and r.station_id in stations]


def test_two_gateways_accepting_one_tag_at_once_end_with_the_later_charge_stopped(
        container: Container, charger: Callable[..., Any]) -> None:
    card = f"C{uuid.uuid4().hex[:8]}"
    container.id_tags().create_tag(IdTag(card, max_concurrent_charges=1), "test")
    first, second = recent(charger), recent(charger)
    second.now = first.now + timedelta(seconds=1)
    ingest(container, first.boot(), second.boot(), first.start(1, 1, 0, card),
           second.start(1, 2, 0, card.lower()))
    bus, mine = StoppingBus(), {first.station_id, second.station_id}
    decided = check(container, bus, mine)
    assert [(d.station_id, d.reason) for d in decided] == [(second.station_id,
                                                            "concurrent-limit")]
    assert stops(bus, mine) == [(second.station_id, "2")]
    assert {r.requested_by for r in bus.requests if r.station_id in mine} == {
        "id-tags (concurrent-limit)"}


def test_a_tag_within_its_limit_is_left_alone(container: Container,
                                              charger: Callable[..., Any]) -> None:
    card = f"C{uuid.uuid4().hex[:8]}"
    container.id_tags().create_tag(IdTag(card, max_concurrent_charges=2), "test")
    first, second = recent(charger), recent(charger)
    ingest(container, first.boot(), second.boot(), first.start(1, 1, 0, card),
           second.start(1, 2, 0, card))
    bus, mine = StoppingBus(), {first.station_id, second.station_id}
    assert check(container, bus, mine) == [] and stops(bus, mine) == []


def budget_events(container: Container, card: str) -> list[dict[str, Any]]:
    with container.engine.connect() as db:
        rows = db.execute(select(outbox_events.c.body).where(
            outbox_events.c.routing_key == "id-tag-registry.tag-updated")
            .order_by(outbox_events.c.seq)).scalars()
        return [e["payload"]["budget_exhausted"] for e in map(json.loads, rows)
                if e["payload"]["id_tag"] == card]


@pytest.mark.parametrize("action", ["stop", "finish"])
def test_a_group_budget_used_up_during_a_charge_stops_it_or_lets_it_finish(
        container: Container, charger: Callable[..., Any], action: str) -> None:
    card, other = f"C{uuid.uuid4().hex[:8]}", f"D{uuid.uuid4().hex[:8]}"
    group = f"G{uuid.uuid4().hex[:8]}"
    service = container.id_tags()
    service.create_group(IdTagGroup(group, "Apto 8", monthly_budget_kwh=5), "test")
    service.create_tag(IdTag(card, group_id=group), "test")
    service.create_tag(IdTag(other, group_id=group), "test")
    cp = recent(charger)
    ingest(container, cp.boot(), cp.start(1, 1, 0, other), cp.stop(1, 3000),  # 3 kWh done
           cp.start(1, 2, 10_000, card),
           cp.meter_values(1, [{"value": "11500"}], 2))  # 1.5 kWh: 4.5 of 5, still fine
    bus, mine = StoppingBus(), {cp.station_id}
    assert check(container, bus, mine, action) == []
    ingest(container, cp.meter_values(1, [{"value": "12100"}], 2))  # 5.1 kWh: used up
    decided = check(container, bus, mine, action)
    expected = [(cp.station_id, "2")] if action == "stop" else []
    assert stops(bus, mine) == expected and [(d.station_id, d.transaction_id) for d in decided
                                       ] == expected
    assert budget_events(container, card)[-1] is True  # new starts refused by the gateways
    assert budget_events(container, other)[-1] is True
