"""Use case: apply the commands of one event exactly once in effect."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from save_server.domain.commands import Command
from save_server.domain.ports import UnitOfWork
from save_server.service.handlers import apply


def ingest_event(uow_factory: Callable[[], UnitOfWork], event_id: str, event_type: str,
                 commands: Sequence[Command]) -> bool:
    """Apply and record the event in one transaction; False when it was already applied."""
    with uow_factory() as uow:
        if uow.processed_events.seen(event_id):
            return False
        for command in commands:
            apply(command, uow)
        uow.processed_events.add(event_id, event_type)
        uow.commit()
    return True
