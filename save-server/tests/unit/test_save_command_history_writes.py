"""The command history is written off the answer's path, by one task: commands answered while
a write is in progress go into the next write together (load management sends hundreds of
profiles a second; one transaction each was half of the database's commits), none is lost,
and `flush` waits for all of them."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from save_server.domain.station_commands import (
    CommandAnswer,
    CommandBus,
    CommandLog,
    CommandOutcome,
    CommandRecord,
    CommandRequest,
)
from save_server.service.station_commands import StationCommands

from ..charge_fakes import NoCharges


class Accepting(CommandBus):
    async def send(self, request: CommandRequest) -> CommandAnswer:
        return CommandAnswer(CommandOutcome.ACCEPTED, {"status": "Accepted"})


class SlowLog(CommandLog):
    """Its first write waits until released; `bad` command ids fail any write holding them."""

    def __init__(self, bad: frozenset[str] = frozenset()) -> None:
        self.writes: list[list[str]] = []
        self.release = threading.Event()
        self.entered = threading.Event()  # a write has begun
        self.bad = bad

    def station_known(self, station_id: str) -> bool:
        return True

    def add(self, record: CommandRecord) -> None:
        self.add_many([record])

    def add_many(self, records: Sequence[CommandRecord]) -> None:
        self.entered.set()
        if not self.writes:
            self.release.wait(timeout=5)
        if self.bad & {r.command_id for r in records}:
            raise RuntimeError("a row the database refuses")
        self.writes.append([r.command_id for r in records])

    def list(self, station_id: str, limit: int) -> list[CommandRecord]:
        return []




async def send_during_the_first_write(commands: StationCommands, log: SlowLog, count: int,
                                      bad: int | None = None) -> list[str]:
    """One command, then `count` more while its write waits (the `bad`-th of them refused
    by the database); returns their ids once the history is flushed."""
    first = await commands.send("CP1", "reset", {"type": "Soft"}, "op", known=True)
    while not log.entered.is_set():
        await asyncio.sleep(0.001)
    others = [await commands.send("CP1", "reset", {"type": "Soft"}, "op", known=True)
              for _ in range(count)]
    if bad is not None:
        log.bad = frozenset({others[bad].command_id})
    log.release.set()
    await commands.flush()
    return [first.command_id] + [r.command_id for r in others]


def test_commands_answered_during_a_write_are_written_together_and_flush_waits() -> None:
    log = SlowLog()
    commands = StationCommands(NoCharges(), Accepting(), log, default_timeout=5.0)
    sent = asyncio.run(send_during_the_first_write(commands, log, 49))
    assert [c for write in log.writes for c in write] == sent  # all, in order, after flush
    assert [len(write) for write in log.writes] == [1, 49]


def test_a_row_the_database_refuses_does_not_lose_the_others_of_its_write() -> None:
    log = SlowLog()
    commands = StationCommands(NoCharges(), Accepting(), log, default_timeout=5.0)
    sent = asyncio.run(send_during_the_first_write(commands, log, 3, bad=1))
    assert log.writes == [[sent[0]], [sent[1]], [sent[3]]]
