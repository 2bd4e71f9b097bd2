"""The station page, live: its connectors' state history (the status reports and charge facts
save-server keeps per connector) and a stream that says when the station changed, after which
the page's script fetches the connectors, readings and history fragment once.

The stream rides on the overview's `LiveFeed` (one database watcher per API process, however
many pages are open): it forwards a tick only when the station is in it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select

from save_server.infrastructure.dashboard.live import LiveFeed
from save_server.infrastructure.db import tables

HISTORY_ROWS = 30
STREAM_SECONDS = 25.0


@dataclass(frozen=True)
class StateChange:
    connector_id: int
    at: datetime
    status: str
    raw_status: str | None
    error_code: str | None
    source: str  # "status" (the station reported it) or "charge" (a charge began or ended)


StatusHistory = Callable[[str, int], list[StateChange]]


def status_history(engine: Engine) -> StatusHistory:
    """The station's latest connector facts, newest first."""
    def read(station_id: str, limit: int = HISTORY_ROWS) -> list[StateChange]:
        r = tables.connector_status_reports.c
        query = (select(r.connector_id, r.reported_at, r.status, r.raw_status, r.error_code,
                        r.source)
                 .where(r.station_id == station_id)
                 .order_by(r.reported_at.desc(), r.id.desc()).limit(limit))
        with engine.connect() as db:
            return [StateChange(int(c), at, status, raw, error, source or "status")
                    for c, at, status, raw, error, source in db.execute(query)]
    return read


async def station_changes(feed: LiveFeed, station_id: str,
                          seconds: float = STREAM_SECONDS) -> AsyncIterator[str]:
    """Server-sent events: `changed` on each tick of the feed in which the station moved."""
    subscription, _ = feed.subscribe(None)
    try:
        yield f"retry: {int(feed.interval * 2000)}\n\n"
        loop = asyncio.get_running_loop()
        ends = loop.time() + seconds
        while (left := ends - loop.time()) > 0:
            try:
                batch = await asyncio.wait_for(subscription.queue.get(), left)
            except TimeoutError:
                break
            if batch is None:
                break
            if any(s.station_id == station_id for s in batch[1]):
                yield "event: changed\ndata: {}\n\n"
    finally:
        feed.unsubscribe(subscription)
