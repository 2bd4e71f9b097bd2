"""An in-process stand-in for the parts of RabbitMQ the platform uses, for the embedded mode.

It keeps RabbitMQ's semantics that the services rely on: named exchanges with topic routing,
named queues with bindings (``declare_exchange(name, "direct")`` makes an exchange route on the
exact routing key instead, like an AMQP direct exchange), at-least-once delivery with explicit
ack/nack, redelivery of unacknowledged messages flagged ``redelivered``, and an optional
dead-letter queue per queue. Messages live in memory; with a `Journal`, those of queues declared
``durable`` are also written to its SQLite file before a publish counts as done (the publisher
confirm), and a broker opened on the same file gives them back, flagged ``redelivered``, when
the queue is declared again (see docs/architecture.md). Thread-safe; ``get`` blocks with a
timeout; ``publish_future`` lets an event loop await the confirm.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field, replace
from functools import lru_cache

from csms_embedded.journal import Change, Journal, StoredMessage

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
    journal_id: int = 0  # its row in the journal (durable queues), 0 for none

    def delivered(self, delivery_tag: int) -> Message:
        """This message handed out under `delivery_tag` (what `dataclasses.replace` does, at
        a fraction of its cost: it runs for every message of every queue)."""
        return Message(self.exchange, self.routing_key, self.body, self.headers,
                       self.properties, self.redelivered, delivery_tag, self.journal_id)

    def stored_as(self, journal_id: int) -> Message:
        return Message(self.exchange, self.routing_key, self.body, self.headers,
                       self.properties, self.redelivered, self.delivery_tag, journal_id)


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
    def __init__(self, dead_letter_queue: str | None, journaled: bool) -> None:
        self.ready: deque[Message] = deque()
        self.unacked: dict[int, Message] = {}
        self.dead_letter_queue = dead_letter_queue
        self.journaled = journaled


class InProcessBroker:
    def __init__(self, journal: Journal | None = None) -> None:
        self._lock = threading.Lock()
        # one condition per queue name on the same lock: a publish wakes only the consumers of
        # the queues it lands in, not every consumer thread of the process (each wake-up takes
        # the GIL from the gateway's event loop)
        self._ready: dict[str, threading.Condition] = {}
        self._queues: dict[str, _Queue] = {}
        # exchange -> pattern -> queues, and each queue's (exchange, pattern) pairs: a publish
        # looks its routing key up instead of scanning every binding (the gateway binds one
        # per connected station for its commands: thousands)
        self._routes: dict[str, dict[str, set[str]]] = {}
        self._wildcards: dict[str, set[str]] = {}  # exchange -> its patterns with * or #
        self._bound: dict[str, set[tuple[str, str]]] = {}
        self._tags = itertools.count(1)
        self._direct_exchanges: set[str] = set()
        self._journal = journal
        self._stored = journal.stored() if journal else {}
        self._elsewhere: dict[str, Callable[[], None]] = {}  # queue -> its process's wake-up

    def consume_elsewhere(self, queue: str, wake: Callable[[], None]) -> None:
        """`queue` (durable, declared after this) is consumed by another process straight from
        the journal (csms_embedded.consumers): its messages are only written there, `wake` runs
        after each commit that added some, and `pending`/`depth` count its rows."""
        if self._journal is None:
            raise ValueError("a queue consumed elsewhere needs the journal")
        with self._lock:
            self._elsewhere[queue] = wake

    def close(self) -> None:
        """Commit the acknowledgements still on their way to the journal and close it."""
        if self._journal is not None:
            self._journal.close()

    def acknowledged_elsewhere(self, journal_ids: Iterable[int]) -> None:
        """A consumer process acknowledged these rows of a queue consumed elsewhere: deleted
        with the journal's next commit, as an in-process ack is."""
        if self._journal is not None:
            self._journal.forget_many(journal_ids)

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
        durable: bool = False,
    ) -> None:
        """Create the queue if needed and add bindings given as (exchange, pattern) pairs. A
        durable queue (and its dead-letter queue) gets back what the journal held for it."""
        with self._lock:
            if name not in self._queues:
                self._create(name, dead_letter_queue, durable)
            if dead_letter_queue and dead_letter_queue not in self._queues:
                self._create(dead_letter_queue, None, durable)
            for exchange, pattern in bindings:
                self._routes.setdefault(exchange, {}).setdefault(pattern, set()).add(name)
                if "*" in pattern or "#" in pattern:
                    self._wildcards.setdefault(exchange, set()).add(pattern)
                self._bound.setdefault(name, set()).add((exchange, pattern))

    def unbind(self, name: str, exchange: str, pattern: str) -> None:
        with self._lock:
            self._unbind(name, exchange, pattern)

    def delete_queue(self, name: str) -> None:
        with self._lock:
            deleted = self._queues.pop(name, None)
            for exchange, pattern in list(self._bound.get(name, ())):
                self._unbind(name, exchange, pattern)
            if deleted is not None and deleted.journaled:
                self._submit(Change(purges=[name]))

    def publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        headers: dict | None = None,
        properties: dict | None = None,
    ) -> int:
        """Route to every bound queue (each queue once); returns how many queues got it, once
        the durable ones have it on disk. Blocks for the journal: not for an event loop."""
        return self.publish_future(exchange, routing_key, body, headers, properties).result()

    def publish_future(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        headers: dict | None = None,
        properties: dict | None = None,
    ) -> Future[int]:
        """`publish` without waiting: the future gives the number of queues once confirmed
        (the journal committed it) or the journal's error."""
        confirmed: Future[int] = Future()

        def settle(routed: int, error: BaseException | None) -> None:
            # cancelled: the publisher gave up waiting (its timeout), maybe just now
            with contextlib.suppress(InvalidStateError):
                if error is None:
                    confirmed.set_result(routed)
                else:
                    confirmed.set_exception(error)

        self.publish_then(exchange, routing_key, body, settle, headers, properties)
        return confirmed

    def publish_then(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        settled: Callable[[int, BaseException | None], None],
        headers: dict | None = None,
        properties: dict | None = None,
    ) -> None:
        """`publish` without waiting and without a Future: `settled(routed, error)` runs once
        confirmed or failed, in the journal's thread (or here, when no queue is durable)."""
        message = Message(exchange, routing_key, body, dict(headers or {}), dict(properties or {}))
        with self._lock:
            targets = self._targets(exchange, routing_key)
            journaled = {q for q in targets if self._queues[q].journaled}
            for queue in targets - journaled:
                self._queues[queue].ready.append(message)
                self._notify(queue)
        self._journaled(message, journaled, len(targets), settled)

    def publish_to_queue(
        self, queue: str, routing_key: str, body: bytes,
        headers: dict | None = None, properties: dict | None = None,
    ) -> None:
        """Like AMQP's default exchange: straight into one named queue (for a durable one,
        once the journal has it)."""
        message = Message("", routing_key, body, dict(headers or {}), dict(properties or {}))
        with self._lock:
            if queue not in self._queues:
                raise KeyError(f"no queue named {queue!r}")
            if not self._queues[queue].journaled:
                self._queues[queue].ready.append(message)
                self._notify(queue)
                return
        confirmed: Future[None] = Future()

        def settle(_routed: int, error: BaseException | None) -> None:
            if error is None:
                confirmed.set_result(None)
            else:
                confirmed.set_exception(error)

        self._journaled(message, {queue}, 1, settle)
        confirmed.result()

    def get(self, queue: str, timeout: float | None = None) -> Message | None:
        """Take the next message (it stays unacknowledged until ack/nack); None on timeout."""
        with self._lock:
            if not self._condition(queue).wait_for(lambda: self._has_ready(queue), timeout):
                return None
            q = self._queues[queue]
            message = q.ready.popleft().delivered(next(self._tags))
            q.unacked[message.delivery_tag] = message
            return message

    def get_many(self, queue: str, max_messages: int,
                 timeout: float | None = None) -> list[Message]:
        """Take up to `max_messages` ready messages in one call (each stays unacknowledged
        until ack/nack); waits up to `timeout` for the first one, returns [] on timeout."""
        with self._lock:
            if not self._condition(queue).wait_for(lambda: self._has_ready(queue), timeout):
                return []
            q = self._queues[queue]
            taken: list[Message] = []
            for _ in range(min(max_messages, len(q.ready))):
                message = q.ready.popleft().delivered(next(self._tags))
                q.unacked[message.delivery_tag] = message
                taken.append(message)
            return taken

    def ack(self, queue: str, message: Message) -> None:
        with self._lock:
            acked = self._queues[queue].unacked.pop(message.delivery_tag, None)
            if acked is not None and acked.journal_id:
                self._forget(acked.journal_id)

    def nack(self, queue: str, message: Message, requeue: bool = True) -> None:
        """Requeue at the front (flagged redelivered) or dead-letter / drop it."""
        with self._lock:
            q = self._queues[queue]
            original = q.unacked.pop(message.delivery_tag, None)
            if original is None:
                return
            if requeue:
                q.ready.appendleft(replace(original, redelivered=True, delivery_tag=0))
                self._notify(queue)
            elif q.dead_letter_queue and q.dead_letter_queue in self._queues:
                dead_letters = self._queues[q.dead_letter_queue]
                dead_letters.ready.append(replace(original, delivery_tag=0))
                self._notify(q.dead_letter_queue)
                if original.journal_id:
                    self._submit(Change(moves=[(original.journal_id, q.dead_letter_queue)])
                                 if dead_letters.journaled
                                 else Change(deletes=[original.journal_id]))
            elif original.journal_id:
                self._forget(original.journal_id)

    def recover(self, queue: str) -> None:
        """Requeue everything unacknowledged, as RabbitMQ does when a consumer's channel closes."""
        with self._lock:
            q = self._queues[queue]
            for message in sorted(q.unacked.values(), key=lambda m: m.delivery_tag, reverse=True):
                q.ready.appendleft(replace(message, redelivered=True, delivery_tag=0))
            q.unacked.clear()
            self._notify(queue)

    def has_queue(self, name: str) -> bool:
        with self._lock:
            return name in self._queues

    def depth(self, queue: str) -> int:
        if queue in self._elsewhere:
            return self._journal.count(queue) if self._journal else 0
        with self._lock:
            q = self._queues.get(queue)
            return len(q.ready) if q else 0

    def pending(self, queue: str) -> int:
        """Messages not yet acknowledged: ready ones and those a consumer holds."""
        if queue in self._elsewhere:
            return self._journal.count(queue) if self._journal else 0
        with self._lock:
            q = self._queues.get(queue)
            return len(q.ready) + len(q.unacked) if q else 0

    def _create(self, name: str, dead_letter_queue: str | None, durable: bool) -> None:
        journaled = durable and self._journal is not None
        created = self._queues[name] = _Queue(dead_letter_queue, journaled)
        stored_rows = self._stored.pop(name, []) if journaled else []
        for stored in stored_rows if name not in self._elsewhere else []:
            created.ready.append(Message(stored.exchange, stored.routing_key, stored.body,
                                         stored.headers, stored.properties, redelivered=True,
                                         journal_id=stored.id))
        if created.ready:
            self._notify(name)

    def _journaled(self, message: Message, queues: set[str], routed: int,
                   settled: Callable[[int, BaseException | None], None]) -> None:
        """Write `message` for each of `queues` to the journal; it becomes ready in them once
        committed, then `settled(routed, None)` (or the journal's error)."""
        if not queues:
            settled(routed, None)
            return
        assert self._journal is not None
        rows = [StoredMessage(self._journal.new_id(), queue, message.exchange,
                              message.routing_key, message.body, message.headers,
                              message.properties) for queue in sorted(queues)]

        def make_ready() -> None:
            wakes = []
            with self._lock:
                for row in rows:
                    if row.queue in self._elsewhere:
                        wakes.append(self._elsewhere[row.queue])
                    elif row.queue in self._queues:
                        self._queues[row.queue].ready.append(message.stored_as(row.id))
                        self._notify(row.queue)
            for wake in wakes:
                wake()

        self._journal.submit(Change(inserts=rows, on_commit=make_ready, done=None,
                                    on_settled=lambda error: settled(routed, error)))

    def _targets(self, exchange: str, routing_key: str) -> set[str]:
        """The queues bound to `exchange` that `routing_key` reaches (the lock held)."""
        routes = self._routes.get(exchange)
        if not routes:
            return set()
        targets = set(routes.get(routing_key, ()))
        if exchange not in self._direct_exchanges:
            for pattern in self._wildcards.get(exchange, ()):
                if topic_matches(pattern, routing_key):
                    targets |= routes[pattern]
        return targets

    def _unbind(self, name: str, exchange: str, pattern: str) -> None:
        queues = self._routes.get(exchange, {}).get(pattern)
        if queues is None or name not in queues:
            return
        queues.discard(name)
        if not queues:
            del self._routes[exchange][pattern]
            self._wildcards.get(exchange, set()).discard(pattern)
        self._bound[name].discard((exchange, pattern))
        if not self._bound[name]:
            del self._bound[name]

    def _forget(self, journal_id: int) -> None:
        """An acknowledged journaled message: its row goes with the journal's next commit."""
        if self._journal is not None:
            self._journal.forget(journal_id)

    def _submit(self, change: Change) -> None:
        """A change nobody waits for (acknowledgements, dead-lettering, purges)."""
        if self._journal is not None:
            self._journal.submit(change)

    def _condition(self, queue: str) -> threading.Condition:
        """The condition `queue`'s consumers wait on (the lock held)."""
        condition = self._ready.get(queue)
        if condition is None:
            condition = self._ready[queue] = threading.Condition(self._lock)
        return condition

    def _notify(self, queue: str) -> None:
        """Wake `queue`'s waiting consumers (the lock held); none waiting costs nothing."""
        condition = self._ready.get(queue)
        if condition is not None:
            condition.notify_all()

    def _has_ready(self, queue: str) -> bool:
        q = self._queues.get(queue)
        return bool(q and q.ready)
