"""Replay publisher for RabbitMQ (pika, public API only).

One `SelectConnection` per replay, publisher confirms on one channel and a window of
unconfirmed messages in flight: the broker confirms in batches (`multiple`), publishing never
stops to wait for a round trip, and one channel keeps the original order of every event. The
blocking client cannot do this: `BlockingChannel.basic_publish` in confirm mode waits for
each message's confirm, and AMQP transactions wait for the broker once per commit.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pika
from pika.exceptions import ChannelClosedByBroker
from pika.spec import Basic

from event_store.domain.events import StoredEvent
from event_store.domain.ports import TARGET_ALL, ReplayPage, ReplayPublisher
from event_store.infrastructure.amqp_properties import message_properties

CONFIRM_WINDOW = 4_000


@dataclass(frozen=True)
class Destination:
    """Where a replay's messages go: `exchange` with each event's original routing key; with
    `queue` set, the default exchange and a `BCC` header naming the queue (RabbitMQ's
    sender-selected distribution), so the event goes straight into that queue yet keeps its
    own routing key, as a live event and the embedded broker's replay do. (The default
    exchange also routes the routing key itself, to a queue named like the event type: none
    is, in this platform.)"""

    exchange: str
    queue: str | None = None
    mandatory: bool = True


class PikaReplayPublisher(ReplayPublisher):
    def __init__(self, url: str, exchange: str, window: int = CONFIRM_WINDOW) -> None:
        self._parameters = pika.URLParameters(url)
        self._exchange = exchange
        self._window = window

    def send(self, target: str, pages: Iterable[ReplayPage],
             on_sent: Callable[[int], None]) -> None:
        destination = self.destination(target)
        _ConfirmedStream(self._parameters, destination, pages, on_sent, self._window).run()

    def destination(self, target: str) -> Destination:
        """`all` → the events exchange (no subscriber is not an error there); an existing
        exchange named like the target (a sharded consumer) → that exchange; else the queue."""
        if target == TARGET_ALL:
            return Destination(self._exchange, mandatory=False)
        connection = pika.BlockingConnection(self._parameters)
        try:
            if _exists(connection, "exchange", target):
                return Destination(target)
            if _exists(connection, "queue", target):
                return Destination("", queue=target)
        finally:
            connection.close()
        raise LookupError(f"no exchange or queue named {target!r} on the broker")

    def close(self) -> None:
        """Each `send` opens and closes its own connection."""


def _exists(connection: pika.BlockingConnection, kind: str, name: str) -> bool:
    """Passive declare on a channel of its own: a failed one closes the channel."""
    channel = connection.channel()
    try:
        if kind == "exchange":
            channel.exchange_declare(name, passive=True)
        else:
            channel.queue_declare(name, passive=True)
    except ChannelClosedByBroker as error:
        if error.reply_code == 404:
            return False
        raise
    channel.close()
    return True


class _ConfirmedStream:
    """Publishes the pages from pika's I/O loop, at most `window` messages unconfirmed."""

    def __init__(self, parameters: pika.URLParameters, destination: Destination,
                 pages: Iterable[ReplayPage], on_sent: Callable[[int], None],
                 window: int) -> None:
        self._parameters = parameters
        self._destination = destination
        self._messages: Iterator[tuple[StoredEvent, dict[str, Any]]] = (
            itertools.chain.from_iterable(pages))
        self._on_sent = on_sent
        self._window = window
        self._channel: Any = None
        self._next_tag = 0
        self._unconfirmed: deque[int] = deque()  # delivery tags, in publishing order
        self._confirmed_early: set[int] = set()  # single acks ahead of the oldest tag
        self._exhausted = False
        self._error: BaseException | None = None

    def run(self) -> None:
        self._connection = pika.SelectConnection(
            self._parameters, on_open_callback=self._on_open,
            on_open_error_callback=self._on_open_error, on_close_callback=self._on_closed)
        self._connection.ioloop.start()
        if self._error is not None:
            raise self._error

    def _on_open(self, connection: pika.SelectConnection) -> None:
        connection.channel(on_open_callback=self._on_channel_open)

    def _on_open_error(self, _connection: Any, error: BaseException | str) -> None:
        self._error = error if isinstance(error, BaseException) else ConnectionError(error)
        self._connection.ioloop.stop()

    def _on_closed(self, _connection: Any, reason: BaseException) -> None:
        if self._error is None and not self._done():
            self._error = reason
        self._connection.ioloop.stop()

    def _on_channel_open(self, channel: Any) -> None:
        self._channel = channel
        channel.add_on_close_callback(self._on_channel_closed)
        channel.add_on_return_callback(self._on_return)
        channel.confirm_delivery(self._on_confirm, callback=lambda _frame: self._publish_more())

    def _on_channel_closed(self, _channel: Any, reason: BaseException) -> None:
        if not self._done():  # else we closed the connection, and with it the channel
            self._fail(reason)

    def _on_return(self, _channel: Any, method: Any, _properties: Any, _body: bytes) -> None:
        self._fail(LookupError(f"broker returned an unroutable message: {method.reply_text}"
                               f" (exchange {method.exchange!r}, routing key"
                               f" {method.routing_key!r})"))

    def _publish_more(self) -> None:
        destination, publish = self._destination, self._channel.basic_publish
        try:
            while self._outstanding() < self._window and self._error is None:
                try:
                    event, headers = next(self._messages)
                except StopIteration:
                    self._exhausted = True
                    break
                if destination.queue:  # BCC: routed to the queue, removed before delivery
                    headers = {**headers, "BCC": [destination.queue]}
                publish(destination.exchange, event.routing_key, event.body,
                        pika.BasicProperties(headers=headers, **message_properties(event)),
                        mandatory=destination.mandatory)
                self._next_tag += 1
                self._unconfirmed.append(self._next_tag)
        except Exception as error:  # a store read failed in the read-ahead thread
            self._fail(error)
            return
        if self._done():
            self._connection.close()

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        if self._error is not None:  # e.g. the ack that follows a returned message
            return
        if isinstance(method, Basic.Nack):
            self._fail(RuntimeError(f"broker refused message {method.delivery_tag} (nack)"))
            return
        confirmed = self._confirm(method.delivery_tag, method.multiple)
        if confirmed:
            self._on_sent(confirmed)
        self._publish_more()

    def _confirm(self, tag: int, multiple: bool) -> int:
        """Forget the confirmed tags; how many were confirmed now."""
        unconfirmed, early = self._unconfirmed, self._confirmed_early
        if not multiple and (not unconfirmed or tag != unconfirmed[0]):
            early.add(tag)
            return 1
        count = 0
        last = tag if multiple else unconfirmed[0]
        while unconfirmed and (unconfirmed[0] <= last or unconfirmed[0] in early):
            oldest = unconfirmed.popleft()
            if oldest in early:
                early.discard(oldest)
            else:
                count += 1
        return count

    def _outstanding(self) -> int:
        return len(self._unconfirmed) - len(self._confirmed_early)

    def _done(self) -> bool:
        return self._exhausted and not self._unconfirmed

    def _fail(self, error: BaseException) -> None:
        if self._error is None:
            self._error = error
        if not (self._connection.is_closing or self._connection.is_closed):
            self._connection.close()
