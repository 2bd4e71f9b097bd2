"""Poison messages on the API process's own queues (registry admissions and snapshot requests,
id tags, local lists, load management): a message whose handler keeps failing is dead-lettered
after `MAX_ATTEMPTS` failures, into `<queue>.dead-letter` like the worker's poison
(`dead_letter` of messaging/embedded.py and messaging/rabbitmq.py), so the next message of
the queue is handled. Failures that are expected to clear — the database unreachable or the
connection lost, a serialization failure or deadlock (all `OperationalError` /
`InterfaceError` / an invalidated connection / the pool's timeout), the command broker
unreachable (`CommandBusUnavailable`, local lists), a handler's `RetryLater` (load management
without the lease) — are retried without limit and not counted.

Neither broker counts deliveries (a classic RabbitMQ queue and the in-process broker only flag
`redelivered`), so failures are counted here, per consumer, by the message's `event_id` (the
body's hash when it has none). The count lives in memory: a restart, or another API replica
taking the message (competing consumers), starts it again, so a message may be tried up to
`MAX_ATTEMPTS` times per process.

The event worker counts here too, for the database errors not expected to clear (a constraint
an event breaks): a `DataError` or a non-database error is poison at its first failure there."""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict

import structlog
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from save_server.domain.station_commands import CommandBusUnavailable
from save_server.infrastructure import metrics

log = structlog.get_logger("save_server.consumers")

MAX_ATTEMPTS = 5  # failures of one message before it is dead-lettered (about 5 s embedded)
REMEMBERED = 10_000  # messages whose failures are counted at a time (the oldest forgotten)


class RetryLater(Exception):
    """A handler's failure that clears by itself (this process does not hold the load
    lease): the message goes back to the queue however often it happens."""


def transient(error: BaseException) -> bool:
    if isinstance(error, (RetryLater, CommandBusUnavailable, OperationalError, InterfaceError,
                          PoolTimeout)):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def message_id(body: bytes) -> str:
    """The envelope's event id, else the body's hash (what the counts are kept by)."""
    try:
        event_id = json.loads(body).get("event_id")
    except (ValueError, AttributeError):
        event_id = None
    if isinstance(event_id, str | int) and not isinstance(event_id, bool):
        return str(event_id)
    return "sha256:" + hashlib.sha256(body).hexdigest()


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


class Attempts:
    """The failures of the messages one consumer is handling."""

    def __init__(self, queue: str, limit: int = MAX_ATTEMPTS,
                 remembered: int = REMEMBERED) -> None:
        self._queue, self._limit, self._remembered = queue, limit, remembered
        self._failures: OrderedDict[str, int] = OrderedDict()

    def exhausted(self, body: bytes, error: BaseException) -> bool:
        """Count this failure (unless transient) and log it; True: dead-letter the message
        now, False: put it back on the queue."""
        key = message_id(body)
        if transient(error):
            log.warning("message requeued after a transient error", queue=self._queue,
                        event_id=key, error=describe(error).splitlines()[0])
            return False
        failures = self.failed(key)
        if failures >= self._limit:
            log.error("poison message dead-lettered", queue=self._queue, event_id=key,
                      attempts=failures, error=describe(error), exc_info=error)
            metrics.EVENTS_DEAD_LETTERED.inc()
            return True
        log.warning("message requeued after an error", queue=self._queue, event_id=key,
                    attempt=failures, limit=self._limit, error=describe(error))
        return False

    def failed(self, key: str) -> int:
        """Count one failure of the message `key` (see `message_id`); returns its failures so
        far, forgotten once they reach the limit (the message is then dead-lettered)."""
        failures = self._failures.pop(key, 0) + 1
        if failures < self._limit:
            self._failures[key] = failures
            while len(self._failures) > self._remembered:
                self._failures.popitem(last=False)
        return failures

    @property
    def limit(self) -> int:
        return self._limit

    def succeeded(self, body: bytes) -> None:
        if self._failures:
            self.forget(message_id(body))

    def forget(self, key: str) -> None:
        if self._failures:
            self._failures.pop(key, None)
