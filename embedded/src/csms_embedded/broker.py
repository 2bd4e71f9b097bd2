"""An in-process stand-in for the parts of RabbitMQ the platform uses, for the embedded mode.

It keeps RabbitMQ's semantics that the services rely on: named exchanges with topic routing,
named queues with bindings (``declare_exchange(name, "direct")`` makes an exchange route on the
exact routing key instead, like an AMQP direct exchange), at-least-once delivery with explicit
ack/nack, redelivery of unacknowledged messages flagged ``redelivered``, and an optional
dead-letter queue per queue. Messages live in memory only: the embedded mode trades
durability across restarts for "nothing to install" (see docs/architecture.md). Thread-safe;
``get`` blocks with a timeout.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import lru_cache

DEFAULT_EXCHANGE = "ocpp-events"


@dataclass(frozen=True)
class Message:
    exchange: str
    routing_key: str
    body: bytes
    headers: dict = field(default_factory=dict)
    properties: dict = field(default_factory=dict)
    redelivered: bool = False
    delivery_tag: int = 0


@lru_cache(maxsize=1024)
def _topic_regex(pattern: str) -> re.Pattern[str]:
    parts = []
    for word in pattern.split("."):
        if word == "#":
            parts.append(r"(?:[^.]+(?:\.[^.]+)*)?")
        elif word == "*":
            parts.append(r"[^.]+")
        else:
            parts.append(re.escape(word))
    regex = r"\.".join(parts).replace(r"(?:[^.]+(?:\.[^.]+)*)?\.", r"(?:[^.]+\.)*")
    regex = regex.replace(r"\.(?:[^.]+(?:\.[^.]+)*)?", r"(?:\.[^.]+)*")
    return re.compile(f"^{regex}$")


def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic matching: words split on '.', '*' is one word, '#' is zero or more."""
    return _topic_regex(pattern).match(routing_key) is not None


class _Queue:
    def __init__(self, dead_letter_queue: str | None) -> None:
        self.ready: deque[Message] = deque()
        self.unacked: dict[int, Message] = {}
        self.dead_letter_queue = dead_letter_queue


class InProcessBroker:
    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._queues: dict[str, _Queue] = {}
        self._bindings: list[tuple[str, str, str]] = []  # (exchange, pattern, queue)
        self._tags = itertools.count(1)
        self._direct_exchanges: set[str] = set()

    def declare_exchange(self, name: str, kind: str = "topic") -> None:
        """Exchanges are topic exchanges unless declared ``direct`` (exact routing key match).

        Publishing needs no declaration; declaring an existing exchange with another kind is
        refused, as RabbitMQ refuses it (PRECONDITION_FAILED).
        """
        if kind not in ("topic", "direct"):
            raise ValueError(f"unsupported exchange kind {kind!r}")
        with self._lock:
            known_direct = name in self._direct_exchanges
            if kind == "direct":
                self._direct_exchanges.add(name)
            elif known_direct:
                raise ValueError(f"exchange {name!r} is declared direct")

    def declare_queue(
        self,
        name: str,
        bindings: Iterable[tuple[str, str]] = (),
        dead_letter_queue: str | None = None,
    ) -> None:
        """Create the queue if needed and add bindings given as (exchange, pattern) pairs."""
        with self._lock:
            if name not in self._queues:
                self._queues[name] = _Queue(dead_letter_queue)
            if dead_letter_queue and dead_letter_queue not in self._queues:
                self._queues[dead_letter_queue] = _Queue(None)
            for exchange, pattern in bindings:
                binding = (exchange, pattern, name)
                if binding not in self._bindings:
                    self._bindings.append(binding)

    def unbind(self, name: str, exchange: str, pattern: str) -> None:
        with self._lock:
            if (exchange, pattern, name) in self._bindings:
                self._bindings.remove((exchange, pattern, name))

    def delete_queue(self, name: str) -> None:
        with self._lock:
            self._queues.pop(name, None)
            self._bindings = [b for b in self._bindings if b[2] != name]

    def publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        headers: dict | None = None,
        properties: dict | None = None,
    ) -> int:
        """Route to every bound queue (each queue once); returns how many queues got it."""
        message = Message(exchange, routing_key, body, dict(headers or {}), dict(properties or {}))
        with self._lock:
            direct = exchange in self._direct_exchanges
            targets = {q for ex, pattern, q in self._bindings
                       if ex == exchange and (pattern == routing_key if direct
                                              else topic_matches(pattern, routing_key))}
            for queue in targets:
                self._queues[queue].ready.append(message)
            if targets:
                self._lock.notify_all()
            return len(targets)

    def publish_to_queue(
        self, queue: str, routing_key: str, body: bytes,
        headers: dict | None = None, properties: dict | None = None,
    ) -> None:
        """Like AMQP's default exchange: straight into one named queue."""
        message = Message("", routing_key, body, dict(headers or {}), dict(properties or {}))
        with self._lock:
            if queue not in self._queues:
                raise KeyError(f"no queue named {queue!r}")
            self._queues[queue].ready.append(message)
            self._lock.notify_all()

    def get(self, queue: str, timeout: float | None = None) -> Message | None:
        """Take the next message (it stays unacknowledged until ack/nack); None on timeout."""
        with self._lock:
            if not self._lock.wait_for(lambda: self._has_ready(queue), timeout):
                return None
            q = self._queues[queue]
            message = replace(q.ready.popleft(), delivery_tag=next(self._tags))
            q.unacked[message.delivery_tag] = message
            return message

    def get_many(self, queue: str, max_messages: int,
                 timeout: float | None = None) -> list[Message]:
        """Take up to `max_messages` ready messages in one call (each stays unacknowledged
        until ack/nack); waits up to `timeout` for the first one, returns [] on timeout."""
        with self._lock:
            if not self._lock.wait_for(lambda: self._has_ready(queue), timeout):
                return []
            q = self._queues[queue]
            taken: list[Message] = []
            for _ in range(min(max_messages, len(q.ready))):
                message = replace(q.ready.popleft(), delivery_tag=next(self._tags))
                q.unacked[message.delivery_tag] = message
                taken.append(message)
            return taken

    def ack(self, queue: str, message: Message) -> None:
        with self._lock:
            self._queues[queue].unacked.pop(message.delivery_tag, None)

    def nack(self, queue: str, message: Message, requeue: bool = True) -> None:
        """Requeue at the front (flagged redelivered) or dead-letter / drop it."""
        with self._lock:
            q = self._queues[queue]
            original = q.unacked.pop(message.delivery_tag, None)
            if original is None:
                return
            if requeue:
                q.ready.appendleft(replace(original, redelivered=True, delivery_tag=0))
            elif q.dead_letter_queue:
                self._queues[q.dead_letter_queue].ready.append(replace(original, delivery_tag=0))
            self._lock.notify_all()

    def recover(self, queue: str) -> None:
        """Requeue everything unacknowledged, as RabbitMQ does when a consumer's channel closes."""
        with self._lock:
            q = self._queues[queue]
            for message in sorted(q.unacked.values(), key=lambda m: m.delivery_tag, reverse=True):
                q.ready.appendleft(replace(message, redelivered=True, delivery_tag=0))
            q.unacked.clear()
            self._lock.notify_all()

    def has_queue(self, name: str) -> bool:
        with self._lock:
            return name in self._queues

    def depth(self, queue: str) -> int:
        with self._lock:
            q = self._queues.get(queue)
            return len(q.ready) if q else 0

    def pending(self, queue: str) -> int:
        """Messages not yet acknowledged: ready ones and those a consumer holds."""
        with self._lock:
            q = self._queues.get(queue)
            return len(q.ready) + len(q.unacked) if q else 0

    def _has_ready(self, queue: str) -> bool:
        q = self._queues.get(queue)
        return bool(q and q.ready)
