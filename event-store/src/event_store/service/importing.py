"""Copy every event of one storage into another (moving a site up from the embedded mode).

Pages of the source, oldest first, written in batches to the target through its port: the
target skips the event ids it already has, so a copy that stopped half-way (or one run twice)
is finished by running it again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from event_store.domain.ports import EventStorage
from event_store.domain.queries import EventQuery

DEFAULT_BATCH_SIZE = 1000


@dataclass(frozen=True)
class ImportResult:
    read: int  # events in the source
    new: int  # of them, not in the target before


def copy_events(source: EventStorage, target: EventStorage,
                batch_size: int = DEFAULT_BATCH_SIZE,
                progress: Callable[[ImportResult], None] | None = None) -> ImportResult:
    """Every event of `source` into `target`, `batch_size` at a time; idempotent by event id."""
    if batch_size < 1:
        raise ValueError("the batch size must be at least 1")
    read = new = 0
    query = EventQuery(limit=batch_size)
    while True:
        events = source.find(query)
        if events:
            new += target.save_many(events)
            read += len(events)
            if progress is not None:
                progress(ImportResult(read, new))
        if len(events) < batch_size:
            return ImportResult(read, new)
        query = query.next_page(events[-1])
