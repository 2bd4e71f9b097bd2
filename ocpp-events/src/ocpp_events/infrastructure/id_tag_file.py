"""The id tag copy on disk: a base document plus a journal of the messages applied since.

A building's tags number in the hundreds, an operator's in the hundred thousands, and
`active-charges` changes at every charge start and stop; rewriting the whole copy after each
change (as the station registry file does) would cost about a second of the event loop per
write at 100,000 tags. So each applied message is appended to `<file>.journal` (one line,
written off the event loop), and the base document is rewritten — in a worker thread, item by
item so the event loop keeps its turn — only after `compact_after` journal lines, after a
snapshot, and at close. Loading reads the base, then replays the journal: every message is
idempotent by revision, so a line replayed onto a base that already holds it changes nothing,
and a torn last line (a crash mid-write) is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pathlib
from collections.abc import Iterable
from typing import Any

import structlog

from ocpp_events.domain.id_tags import (
    ActiveCharges,
    IdTag,
    IdTagState,
    charges_document,
    tag_document,
)
from ocpp_events.domain.registry_fields import InvalidRegistryEvent

log = structlog.get_logger("ocpp_events.id_tags")
COMPACT_AFTER = 10_000  # journal lines
_COMPACT = json.dumps  # one item at a time: the GIL is released between items


def load(path: pathlib.Path | None) -> IdTagState:
    if path is None:
        return IdTagState()
    state = IdTagState()
    if path.exists():
        try:
            state = IdTagState.from_document(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError, InvalidRegistryEvent) as error:
            log.error("id tag file unreadable; starting from an empty copy",
                      path=str(path), error=str(error)[:300])
    replayed = skipped = 0
    for line in _journal_lines(_journal(path)):
        try:
            state.apply(json.loads(line))
            replayed += 1
        except (ValueError, InvalidRegistryEvent, AttributeError):
            skipped += 1
    log.info("id tag copy loaded from file", path=str(path), tags=len(state.tags),
             journal_lines=replayed, skipped_lines=skipped)
    return state


class IdTagFile:
    """Appends applied messages and compacts, from one background task at a time."""

    def __init__(self, path: pathlib.Path | None, delay: float = 0.2,
                 compact_after: int = COMPACT_AFTER) -> None:
        self.path = path
        self._delay, self._compact_after = delay, compact_after
        self._lines: list[bytes] = []
        self._compact_wanted = False
        self._journal_length = len(list(_journal_lines(_journal(path)))) if path else 0
        self._task: asyncio.Task[None] | None = None

    def applied(self, body: bytes, state: IdTagState, whole: bool = False) -> None:
        """A message changed the copy; `whole` (a snapshot): rewrite the base instead."""
        if self.path is None:
            return
        if whole:
            self._compact_wanted = True
            self._lines.clear()  # the new base holds them
        else:
            self._lines.append(body if b"\n" not in body
                               else json.dumps(json.loads(body)).encode())
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._write(state))

    async def _write(self, state: IdTagState) -> None:
        while self._lines or self._compact_wanted:
            await asyncio.sleep(self._delay)  # messages arriving together are written once
            lines, self._lines = self._lines, []
            try:
                if lines and not self._compact_wanted:
                    await asyncio.to_thread(_append, _journal(self.path), lines)
                    self._journal_length += len(lines)
                if self._compact_wanted or self._journal_length >= self._compact_after:
                    self._compact_wanted = False
                    await self._compact(state)
            except OSError as error:
                log.error("id tag file not written", path=str(self.path), error=repr(error))

    async def _compact(self, state: IdTagState) -> None:
        assert self.path is not None
        # Shallow copies taken on the event loop (a few ms): the records are immutable, and
        # what changes after this point is journaled after the compaction.
        tags, tombstones = list(state.tags.values()), dict(state.tombstones)
        charges = dict(state.charges)
        await asyncio.to_thread(_write_base, self.path, tags, tombstones, charges)
        self._journal_length = 0

    async def close(self, state: IdTagState) -> None:
        """Finish what is pending and fold the journal into the base."""
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.path is not None and self._journal_length:
            try:
                await self._compact(state)
            except OSError as error:
                log.error("id tag file not compacted", path=str(self.path), error=repr(error))


def _journal(path: pathlib.Path | None) -> pathlib.Path | None:
    return path.with_name(path.name + ".journal") if path is not None else None


def _journal_lines(journal: pathlib.Path | None) -> Iterable[bytes]:
    if journal is None or not journal.exists():
        return ()
    return [line for line in journal.read_bytes().split(b"\n") if line.strip()]


def _append(journal: pathlib.Path | None, lines: list[bytes]) -> None:
    assert journal is not None
    journal.parent.mkdir(parents=True, exist_ok=True)
    with journal.open("ab") as out:
        out.write(b"\n".join(lines) + b"\n")


def _write_base(path: pathlib.Path, tags: list[IdTag], tombstones: dict[str, int],
                charges: dict[str, ActiveCharges]) -> None:
    """The same document as `IdTagState.to_document`, written item by item; then the journal
    is emptied (a crash in between only replays lines the base already holds)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("w", encoding="utf-8") as out:
        out.write('{"tags":[')
        _items(out, (_COMPACT(tag_document(t), separators=(",", ":")) for t in tags))
        out.write('],"tombstones":' + json.dumps(tombstones, separators=(",", ":")))
        out.write(',"active_charges":[')
        _items(out, (_COMPACT(charges_document(key, a), separators=(",", ":"))
                     for key, a in charges.items()))
        out.write("]}")
    os.replace(temporary, path)
    journal = _journal(path)
    assert journal is not None
    with contextlib.suppress(FileNotFoundError):
        journal.unlink()


def _items(out: Any, texts: Iterable[str]) -> None:
    for number, text in enumerate(texts):
        out.write("," + text if number else text)

