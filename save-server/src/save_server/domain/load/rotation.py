"""Who charges when the minimums do not all fit: turns of a fixed slot, first come first served.

Each active connector has a turn: running since t, or waiting since t. The order of admission is
(1) running connectors whose slot has not ended, (2) waiting connectors, longest waiting first —
and the first that does not fit blocks those behind it, so the head of the queue is never
overtaken, (3) running connectors whose slot ended, those that charged least first. Within a
slot every running connector's turn ends, so the head of the queue starts within one slot of
becoming head, if its minimum fits the site at all: a connector paused behind k others waits
at most (k + 1) slots while the capacity does not shrink (docs/load-management.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from save_server.domain.load.model import ConnectorKey, ConnectorSupply

DEFAULT_SLOT = timedelta(minutes=15)


@dataclass(frozen=True)
class Turn:
    running: bool
    since: datetime


@dataclass(frozen=True)
class Admission:
    admitted: tuple[ConnectorSupply, ...]
    queue: tuple[ConnectorKey, ...]  # paused, longest waiting first
    turns: dict[ConnectorKey, Turn]


Fits = Callable[[ConnectorSupply], bool]  # takes the connector's minimum when it fits


def admit(active: Sequence[ConnectorSupply], turns: Mapping[ConnectorKey, Turn],
          now: datetime, slot: timedelta, fits: Fits) -> Admission:
    """Admit connectors in turn order while `fits` accepts their minimum."""
    current = {c.key: turns.get(c.key) for c in active}
    unexpired = sorted((c for c in active if _running(current[c.key])
                        and now - current[c.key].since < slot),  # type: ignore[union-attr]
                       key=lambda c: (-c.priority, current[c.key].since, c.key))  # type: ignore[union-attr]
    waiting = sorted((c for c in active if not _running(current[c.key])),
                     key=lambda c: (_since(current[c.key], now), -c.priority, c.key))
    expired = sorted((c for c in active if _running(current[c.key])
                      and now - current[c.key].since >= slot),  # type: ignore[union-attr]
                     key=lambda c: (-c.priority, -current[c.key].since.timestamp(), c.key))  # type: ignore[union-attr]
    admitted = [c for c in unexpired if fits(c)]
    blocked = False
    for connector in waiting:
        if not blocked and fits(connector):
            admitted.append(connector)
        else:
            blocked = True
    admitted += [c for c in expired if fits(c)]
    chosen = {c.key for c in admitted}
    new_turns = {c.key: _next_turn(current[c.key], c.key in chosen, now) for c in active}
    priority = {c.key: c.priority for c in active}
    queue = sorted((k for k, t in new_turns.items() if not t.running),
                   key=lambda k: (new_turns[k].since, -priority[k], k))
    return Admission(tuple(admitted), tuple(queue), new_turns)


def _running(turn: Turn | None) -> bool:
    return turn is not None and turn.running


def _since(turn: Turn | None, now: datetime) -> datetime:
    return now if turn is None else turn.since


def _next_turn(previous: Turn | None, admitted: bool, now: datetime) -> Turn:
    if previous is not None and previous.running == admitted:
        return previous
    return Turn(admitted, now)
