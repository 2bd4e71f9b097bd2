"""The overview's live updates: one change watcher per API process, fanned out to browsers.

Why the database and not the broker: in services mode the worker that applies the OCPP events
and this API are separate processes (and the API may have replicas), so an in-process
notification from the worker cannot reach it; each station row carries a `revision` that every
write bumps. One thread per API process reads `(station_id, revision)` of every station every
`interval` seconds (one indexed scan: ~10,000 short rows), loads the documents of the stations
that moved and hands one batch per tick to every open server-sent-events stream. So the load
does not grow with the number of browsers, a browser gets at most one message per tick
(coalesced: 100 events/s on 1,000 stations are ≤ 2 batches per second), and an event shows
within `interval` + the worker's commit, well inside 2 s. The same code serves the embedded
mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
from sqlalchemy import Engine, select

from save_server.infrastructure.dashboard.views import StationSummary, summary
from save_server.infrastructure.db import tables

log = structlog.get_logger("save_server.dashboard")
BACKLOG_TICKS = 240  # a browser reconnecting within ~2 minutes gets what it missed
IDLE_STOP_SECONDS = 30.0  # the watcher stops this long after its last browser left


def station_revisions(engine: Engine) -> Callable[[], dict[str, int]]:
    def read() -> dict[str, int]:
        s = tables.stations.c
        with engine.connect() as db:
            return dict(db.execute(select(s.station_id, s.revision)).all())
    return read


Batch = tuple[str, list[StationSummary]]  # (event id "epoch-tick", the stations that moved)


@dataclass(eq=False)
class Subscription:
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[Batch | None] = field(default_factory=asyncio.Queue)

    def deliver(self, batch: Batch | None) -> None:
        with contextlib.suppress(RuntimeError):  # its loop closed meanwhile
            self.loop.call_soon_threadsafe(self.queue.put_nowait, batch)


class LiveFeed:
    def __init__(self, revisions: Callable[[], dict[str, int]],
                 document: Callable[[str], str | None], interval: float = 0.5) -> None:
        self._revisions, self._document, self.interval = revisions, document, interval
        self._lock = threading.Lock()
        self._subscribers: set[Subscription] = set()
        self._backlog: deque[Batch] = deque(maxlen=BACKLOG_TICKS)
        self._epoch = uuid.uuid4().hex[:8]
        self._thread: threading.Thread | None = None
        self._tick = 0  # the watcher's tick count in this epoch
        self._dropped_through = 0  # the newest tick no longer in the backlog
        self._closed = threading.Event()

    def subscribe(self, last_event_id: str | None) -> tuple[Subscription, list[Batch] | None]:
        """A new stream, with the batches it missed since `last_event_id` (None: it cannot
        know, the page must reload)."""
        subscription = Subscription(asyncio.get_running_loop())
        with self._lock:
            if self._closed.is_set():
                subscription.deliver(None)
            self._subscribers.add(subscription)
            missed = self._missed(last_event_id)
            if self._thread is None or not self._thread.is_alive():
                self._epoch = uuid.uuid4().hex[:8]
                self._backlog.clear()
                self._tick = self._dropped_through = 0
                self._thread = threading.Thread(target=self._watch, name="dashboard-live",
                                                daemon=True)
                self._thread.start()
        return subscription, missed

    def _missed(self, last_event_id: str | None) -> list[Batch] | None:
        if not last_event_id:
            return []
        epoch, _, tick = last_event_id.partition("-")
        if epoch != self._epoch or not (tick.isascii() and tick.isdigit()) \
                or int(tick) < self._dropped_through:
            return None  # another watcher, or older than what is kept: reload
        return [b for b in self._backlog if int(b[0].partition("-")[2]) > int(tick)]

    def current_id(self) -> str:
        """The id a new stream starts from (sent first, so a reconnection resumes there)."""
        with self._lock:
            return f"{self._epoch}-{self._tick}"

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscribers.discard(subscription)

    @property
    def closed(self) -> bool:
        """The server is stopping: streams that do not subscribe end by this."""
        return self._closed.is_set()

    def close(self) -> None:
        """Ends every stream (the server is stopping) and the watcher."""
        self._closed.set()
        with self._lock:
            for subscription in self._subscribers:
                subscription.deliver(None)

    def _watch(self) -> None:
        known: dict[str, int] | None = None
        idle_ticks = 0
        while True:
            try:
                known = self._step(known)
            except Exception:
                log.exception("live station feed: read failed; trying again")
            if self._closed.wait(self.interval):
                return
            with self._lock:
                idle_ticks = 0 if self._subscribers else idle_ticks + 1
                if idle_ticks * self.interval > IDLE_STOP_SECONDS:
                    self._thread = None
                    return

    def _step(self, known: dict[str, int] | None) -> dict[str, int]:
        current = self._revisions()
        if known is None:
            return current
        moved = [i for i, revision in current.items() if known.get(i) != revision]
        changed = []
        for station_id in moved:
            document = self._document(station_id)
            if document is not None:
                changed.append(summary(json.loads(document), None))
        with self._lock:
            self._tick += 1
            if not changed:
                return current
            batch = (f"{self._epoch}-{self._tick}", changed)
            if len(self._backlog) == self._backlog.maxlen:
                self._dropped_through = int(self._backlog[0][0].partition("-")[2])
            self._backlog.append(batch)
            for subscription in self._subscribers:
                subscription.deliver(batch)
        return current
