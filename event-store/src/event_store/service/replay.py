"""Replay: re-send a selected group of stored events, in original order, as a background job.

Jobs live in memory of the API process (lost on restart; a restarted replay is harmless because
consumers are idempotent on `event_id`). Each job runs in its own thread with its own publisher
connection, so a replay never blocks live ingestion; a second thread reads the store a few
pages ahead of the publisher.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import structlog

from event_store import metrics
from event_store.domain.events import format_date
from event_store.domain.ports import TARGET_ALL, EventStorage, ReplayPage, ReplayPublisher
from event_store.domain.queries import EventQuery
from event_store.service.read_ahead import ReadAhead

log = structlog.get_logger(__name__)

__all__ = ["TARGET_ALL", "ReplayJob", "ReplayService", "ReplayState"]

KEEP_JOBS = 100
PAGE_SIZE = 2_000
READ_AHEAD_PAGES = 4


class ReplayState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass
class ReplayJob:
    id: str
    query: EventQuery
    target: str
    created_at: datetime
    state: ReplayState = ReplayState.PENDING
    events_sent: int = 0
    errors: list[str] = field(default_factory=list)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    cancel_requested: threading.Event = field(default_factory=threading.Event, repr=False)
    _started: float | None = field(default=None, repr=False)
    _finished: float | None = field(default=None, repr=False)

    @property
    def done(self) -> bool:
        return self.state in (ReplayState.COMPLETED, ReplayState.FAILED, ReplayState.CANCELLED)

    def rate(self) -> float:
        """Events sent per second since the job started."""
        if self._started is None:
            return 0.0
        elapsed = (self._finished or time.monotonic()) - self._started
        return round(self.events_sent / elapsed, 1) if elapsed > 0 else 0.0

    def as_document(self) -> dict[str, Any]:
        query = self.query
        return {
            "id": self.id,
            "state": self.state.value,
            "target": self.target,
            "filters": {
                "start_date": format_date(query.start_date) if query.start_date else None,
                "end_date": format_date(query.end_date) if query.end_date else None,
                "type": list(query.types),
                "charging_station_id": query.charging_station_id,
            },
            "events_sent": self.events_sent,
            "rate": self.rate(),
            "errors": list(self.errors),
            "created_at": format_date(self.created_at),
            "started_at": format_date(self.started_at) if self.started_at else None,
            "finished_at": format_date(self.finished_at) if self.finished_at else None,
        }


class ReplayService:
    def __init__(self, storage: EventStorage, publisher_factory: Callable[[], ReplayPublisher],
                 page_size: int = PAGE_SIZE) -> None:
        self._storage = storage
        self._publisher_factory = publisher_factory
        self._page_size = page_size
        self._jobs: dict[str, ReplayJob] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def start(self, query: EventQuery, target: str) -> ReplayJob:
        """Start a job in its own thread. Without `end_date` the replay covers the events
        received up to now, so live traffic arriving meanwhile is not replayed."""
        now = datetime.now(UTC)
        query = replace(query, after=None, limit=self._page_size,
                        end_date=query.end_date or now)
        job = ReplayJob(str(uuid.uuid4()), query, target, now)
        thread = threading.Thread(target=self._run, args=(job,), name=f"replay-{job.id}",
                                  daemon=True)
        with self._lock:
            self._forget_old_jobs()
            self._jobs[job.id] = job
            self._threads[job.id] = thread
        thread.start()
        return job

    def _forget_old_jobs(self) -> None:
        """Keep at most `KEEP_JOBS` jobs in memory, dropping the oldest finished ones."""
        finished = [job_id for job_id, job in self._jobs.items() if job.done]
        for job_id in finished[: max(0, len(self._jobs) - KEEP_JOBS + 1)]:
            del self._jobs[job_id]
            del self._threads[job_id]

    def get(self, job_id: str) -> ReplayJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def jobs(self) -> list[ReplayJob]:
        with self._lock:
            return list(self._jobs.values())

    def cancel(self, job_id: str) -> ReplayJob | None:
        job = self.get(job_id)
        if job is not None:
            job.cancel_requested.set()
        return job

    def wait(self, job_id: str, timeout: float | None = None) -> None:
        with self._lock:
            thread = self._threads.get(job_id)
        if thread is not None:
            thread.join(timeout)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Cancel running jobs and wait for their threads."""
        with self._lock:
            jobs, threads = list(self._jobs.values()), list(self._threads.values())
        for job in jobs:
            job.cancel_requested.set()
        for thread in threads:
            thread.join(timeout)

    def _run(self, job: ReplayJob) -> None:
        job.state, job.started_at, job._started = (
            ReplayState.RUNNING, datetime.now(UTC), time.monotonic())
        metrics.REPLAYS_RUNNING.inc()
        publisher: ReplayPublisher | None = None
        try:
            publisher = self._publisher_factory()
            self._send_all(job, publisher)
        except Exception as error:
            log.exception("event_store.replay_failed", replay_id=job.id)
            job.errors.append(f"{type(error).__name__}: {error}")
            job.state = ReplayState.FAILED
        finally:
            if publisher is not None:
                try:
                    publisher.close()
                except Exception:
                    log.exception("event_store.replay_publisher_close_failed", replay_id=job.id)
            job._finished, job.finished_at = time.monotonic(), datetime.now(UTC)
            metrics.REPLAYS_RUNNING.dec()
        log.info("event_store.replay_finished", replay_id=job.id, state=job.state.value,
                 events_sent=job.events_sent)

    def _send_all(self, job: ReplayJob, publisher: ReplayPublisher) -> None:
        with ReadAhead(self._pages(job), READ_AHEAD_PAGES, f"replay-read-{job.id}") as pages:
            publisher.send(job.target, self._until_cancelled(job, pages),
                           lambda sent: self._count_sent(job, sent))
        cancelled = job.cancel_requested.is_set()
        job.state = ReplayState.CANCELLED if cancelled else ReplayState.COMPLETED

    def _pages(self, job: ReplayJob) -> Iterator[ReplayPage]:
        """The job's events, oldest first, a page at a time, with the replay headers."""
        query = job.query
        while not job.cancel_requested.is_set():
            events = self._storage.find(query)
            if events:
                yield [(event, {"charging_station_id": event.charging_station_id,
                                "replayed": True, "replay_id": job.id}) for event in events]
            if len(events) < query.limit:
                return
            query = query.next_page(events[-1])

    @staticmethod
    def _until_cancelled(job: ReplayJob, pages: ReadAhead[ReplayPage]) -> Iterator[ReplayPage]:
        """Pages already read ahead are dropped once the job is cancelled."""
        for page in pages:
            if job.cancel_requested.is_set():
                return
            yield page

    @staticmethod
    def _count_sent(job: ReplayJob, sent: int) -> None:
        job.events_sent += sent
        metrics.EVENTS_REPLAYED.inc(sent)
