"""Use case: apply the commands of events exactly once in effect."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from save_server.domain.commands import (
    Command,
    ObserveConnection,
    ProjectBusinessEvent,
    RecordDisconnection,
    StartCharge,
    StopCharge,
)
from save_server.domain.ports import UnitOfWork
from save_server.service.handlers import apply


@dataclass(frozen=True)
class IncomingEvent:
    event_id: str
    event_type: str
    commands: Sequence[Command]


def ingest_event(uow_factory: Callable[[], UnitOfWork], event_id: str, event_type: str,
                 commands: Sequence[Command]) -> bool:
    """Apply and record the event in one transaction; False when it was already applied."""
    return ingest_events(uow_factory, [IncomingEvent(event_id, event_type, commands)])[0]


def ingest_events(uow_factory: Callable[[], UnitOfWork],
                  events: Sequence[IncomingEvent]) -> list[bool]:
    """Apply several events in one transaction (one commit for all, or none of them); each
    event id is applied at most once, even when it appears twice in the batch. Returns, per
    event, whether it was applied (False: a duplicate)."""
    with uow_factory() as uow:
        done = uow.processed_events.seen_among([e.event_id for e in events])
        # Lock every station of the batch first, in one order, so concurrent workers cannot
        # deadlock (charges are always locked after their station). Events applied before
        # touch nothing: a redelivered batch costs one read.
        connections: dict[str, set[str]] = {}
        charges: dict[tuple[str, str], None] = {}  # first appearance order
        for event in events:
            if event.event_id in done:
                continue
            for command in event.commands:
                if isinstance(command, ProjectBusinessEvent):
                    continue  # rows of their own, no station to lock
                named = connections.setdefault(command.station_id, set())
                if isinstance(command, ObserveConnection | RecordDisconnection):
                    named.add(command.connection_id)
                elif isinstance(command, StartCharge | StopCharge):
                    charges.setdefault((command.station_id, command.transaction_id))
        uow.stations.get_or_create_many(connections)
        uow.charges.get_or_create_many(charges)
        applied = []
        for event in events:
            if event.event_id in done:
                applied.append(False)
                continue
            for command in event.commands:
                apply(command, uow)
            uow.processed_events.add(event.event_id, event.event_type)
            done.add(event.event_id)
            applied.append(True)
        uow.commit()
    return applied
