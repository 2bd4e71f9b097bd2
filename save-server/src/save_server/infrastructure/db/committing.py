"""What the SQL stores of the business families share: a write is one transaction (the change
and its outbox events), then `on_commit` (wakes the outbox relay); and their one-row revision
counters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, Table, insert, select, update


class CommittingStore:
    def __init__(self, engine: Engine, on_commit: Callable[[], None] = lambda: None) -> None:
        self._engine, self._on_commit = engine, on_commit

    def _commit(self, change: Callable[[Connection], Any]) -> Any:
        with self._engine.begin() as db:
            result = change(db)
        self._on_commit()
        return result


def next_revision(db: Connection, counter: Table) -> int:
    """One more on a counter table (one row: `id` 1, `revision`), created at 1."""
    if db.execute(update(counter).where(counter.c.id == 1)
                  .values(revision=counter.c.revision + 1)).rowcount == 0:
        db.execute(insert(counter).values(id=1, revision=1))
    return int(db.execute(select(counter.c.revision)).scalar_one())
