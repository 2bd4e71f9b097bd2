"""Relays committed outbox rows to the broker, oldest first, in batches confirmed before
they are marked sent. A crash between the confirm and the mark sends that event again after restart;
consumers are idempotent by event id, so each committed event takes effect once, and a rolled
back change never reaches the outbox at all."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from sqlalchemy import Engine, select, update

from save_server.domain.ports import EventPublisher, OutgoingEvent
from save_server.infrastructure.outbox.tables import outbox_events

log = structlog.get_logger(__name__)

BATCH = 100


class OutboxRelay:
    def __init__(self, engine: Engine, publisher_factory: Callable[[], EventPublisher],
                 wake: threading.Event | None = None, poll_seconds: float = 0.5,
                 max_backoff: float = 5.0) -> None:
        self._engine, self._publisher_factory = engine, publisher_factory
        self._poll, self._max_backoff = poll_seconds, max_backoff
        self._publisher: EventPublisher | None = None
        self.wake = wake or threading.Event()  # set by the writers after their commit

    def relay_once(self) -> int:
        """Send up to BATCH pending events; returns how many were sent."""
        with self._engine.begin() as db:
            rows = db.execute(
                select(outbox_events.c.seq, outbox_events.c.event_id,
                       outbox_events.c.routing_key, outbox_events.c.body,
                       outbox_events.c.charging_station_id)
                .where(outbox_events.c.published_at.is_(None))
                .order_by(outbox_events.c.seq).limit(BATCH)
                .with_for_update(skip_locked=True)).all()
            if not rows:
                return 0
            publisher = self._publisher or self._publisher_factory()
            self._publisher = publisher
            publisher.publish_many([OutgoingEvent(row.routing_key, bytes(row.body),
                                                  row.event_id, row.charging_station_id)
                                    for row in rows])
            db.execute(update(outbox_events)
                       .where(outbox_events.c.seq.in_([row.seq for row in rows]))
                       .values(published_at=datetime.now(UTC)))
        return len(rows)

    def run(self, stop: threading.Event) -> None:
        backoff = self._poll
        while not stop.is_set():
            try:
                while self.relay_once() and not stop.is_set():
                    pass
                backoff = self._poll
            except Exception as error:
                log.warning("outbox relay failed; retrying", error=str(error))
                self._drop_publisher()
                backoff = min(max(backoff * 2, self._poll), self._max_backoff)
            self.wake.wait(backoff)
            self.wake.clear()
        self._drop_publisher()

    def _drop_publisher(self) -> None:
        if self._publisher is not None:
            with contextlib.suppress(Exception):
                self._publisher.close()
            self._publisher = None

    def start(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(target=self.run, args=(stop,), name="save-server-outbox",
                                  daemon=True)
        thread.start()
        return thread
