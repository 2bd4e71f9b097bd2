"""The broker's semantics, each test run on the memory-only broker and on the journaled one
with every queue durable (the embedded mode's event queues)."""

import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from csms_embedded.broker import InProcessBroker, topic_matches
from csms_embedded.journal import Journal

NewBroker = Callable[[], InProcessBroker]


class DurableQueues(InProcessBroker):
    """Declares every queue durable, so each message goes through the journal."""

    def declare_queue(self, name: str, bindings: Iterable[tuple[str, str]] = (),
                      dead_letter_queue: str | None = None, durable: bool = True) -> None:
        super().declare_queue(name, bindings, dead_letter_queue, durable)


@pytest.fixture(params=["memory", "journal"])
def new_broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NewBroker]:
    made: list[InProcessBroker] = []

    def make() -> InProcessBroker:
        broker = (InProcessBroker() if request.param == "memory"
                  else DurableQueues(Journal(tmp_path / f"broker-{len(made)}.sqlite3")))
        made.append(broker)
        return broker

    yield make
    for broker in made:
        broker.close()


@pytest.mark.parametrize(
    ("pattern", "key", "expected"),
    [
        ("#", "ocpp-events.start-transaction", True),
        ("ocpp-events.#", "ocpp-events.start-transaction", True),
        ("ocpp-events.*", "ocpp-events.start-transaction", True),
        ("ocpp-events.start-transaction", "ocpp-events.start-transaction", True),
        ("ocpp-events.stop-transaction", "ocpp-events.start-transaction", False),
        ("*", "ocpp-events.start-transaction", False),
        ("a.#.c", "a.c", True),
        ("a.#.c", "a.b.b.c", True),
        ("a.#", "a", True),
        ("#.c", "a.b.c", True),
        ("a.*.c", "a.c", False),
    ],
)
def test_topic_matching_follows_amqp_rules(pattern: str, key: str, expected: bool) -> None:
    assert topic_matches(pattern, key) is expected


def test_publish_routes_once_to_each_bound_queue(new_broker: NewBroker) -> None:
    broker = new_broker()
    broker.declare_queue("store", [("ocpp-events", "#")])
    broker.declare_queue("save", [("ocpp-events", "ocpp-events.boot-notification"),
                                  ("ocpp-events", "ocpp-events.#")])
    assert broker.publish("ocpp-events", "ocpp-events.boot-notification", b"1") == 2
    assert broker.publish("other", "ocpp-events.boot-notification", b"2") == 0
    assert broker.depth("store") == 1 and broker.depth("save") == 1


def test_nack_requeues_at_front_flagged_redelivered(new_broker: NewBroker) -> None:
    broker = new_broker()
    broker.declare_queue("q", [("x", "#")])
    broker.publish("x", "a", b"first")
    broker.publish("x", "a", b"second")
    first = broker.get("q", 0)
    assert first is not None and not first.redelivered
    broker.nack("q", first, requeue=True)
    again = broker.get("q", 0)
    assert again is not None and again.body == b"first" and again.redelivered


def test_nack_without_requeue_dead_letters(new_broker: NewBroker) -> None:
    broker = new_broker()
    broker.declare_queue("q", [("x", "#")], dead_letter_queue="q.dead-letter")
    broker.publish("x", "a", b"poison")
    message = broker.get("q", 0)
    assert message is not None
    broker.nack("q", message, requeue=False)
    assert broker.depth("q") == 0
    assert broker.get("q.dead-letter", 0).body == b"poison"


def test_recover_redelivers_unacked_in_order(new_broker: NewBroker) -> None:
    broker = new_broker()
    broker.declare_queue("q", [("x", "#")])
    for body in (b"1", b"2", b"3"):
        broker.publish("x", "a", body)
    taken = [broker.get("q", 0), broker.get("q", 0)]
    broker.ack("q", taken[0])
    broker.recover("q")
    assert [broker.get("q", 0).body for _ in range(2)] == [b"2", b"3"]


def test_get_blocks_until_a_message_arrives(new_broker: NewBroker) -> None:
    broker = new_broker()
    broker.declare_queue("q", [("x", "#")])
    threading.Timer(0.05, lambda: broker.publish("x", "a", b"late")).start()
    message = broker.get("q", timeout=5)
    assert message is not None and message.body == b"late"
    assert broker.get("q", timeout=0.01) is None


def test_direct_exchange_routes_on_the_exact_key_only(new_broker: NewBroker) -> None:
    """A direct exchange ignores topic wildcards: `CP.*` is a literal station id there."""
    broker = new_broker()
    broker.declare_exchange("commands", "direct")
    broker.declare_queue("gateway-a", [("commands", "CP.*")])
    broker.declare_queue("gateway-b", [("commands", "CP.1")])
    assert broker.publish("commands", "CP.1", b"x") == 1
    assert broker.get("gateway-b", timeout=0).body == b"x"
    assert broker.depth("gateway-a") == 0
    assert broker.publish("commands", "CP.*", b"y") == 1
    assert broker.get("gateway-a", timeout=0).body == b"y"


def test_unroutable_publish_on_a_direct_exchange_counts_zero_queues(new_broker: NewBroker) -> None:
    broker = new_broker()
    broker.declare_exchange("commands", "direct")
    broker.declare_queue("gateway-a", [("commands", "CP-1")])
    broker.unbind("gateway-a", "commands", "CP-1")
    assert broker.publish("commands", "CP-1", b"x") == 0


def test_an_exchange_keeps_its_kind(new_broker: NewBroker) -> None:
    broker = new_broker()
    broker.declare_exchange("commands", "direct")
    broker.declare_exchange("commands", "direct")
    with pytest.raises(ValueError):
        broker.declare_exchange("commands", "topic")
    with pytest.raises(ValueError):
        broker.declare_exchange("other", "fanout")


def test_has_queue_reports_declared_and_deleted_queues(new_broker: NewBroker) -> None:
    broker = new_broker()
    broker.declare_queue("replies")
    assert broker.has_queue("replies")
    broker.delete_queue("replies")
    assert not broker.has_queue("replies")


def test_get_many_takes_up_to_n_ready_messages_in_order_each_unacked(new_broker: NewBroker) -> None:
    broker = new_broker()
    broker.declare_queue("q", [("ex", "#")])
    for i in range(5):
        broker.publish("ex", "a.b", str(i).encode())
    first = broker.get_many("q", 3, timeout=0)
    assert [m.body for m in first] == [b"0", b"1", b"2"]
    assert len({m.delivery_tag for m in first}) == 3
    assert [m.body for m in broker.get_many("q", 10, timeout=0)] == [b"3", b"4"]
    assert broker.get_many("q", 10, timeout=0.01) == []
    broker.nack("q", first[1])  # unacknowledged until acked: a nack requeues it
    broker.ack("q", first[0])
    assert [m.body for m in broker.get_many("q", 10, timeout=0)] == [b"1"]
    broker.recover("q")  # redelivered in delivery order: "1" was delivered again last
    assert [m.body for m in broker.get_many("q", 10, timeout=0)] == [b"2", b"3", b"4", b"1"]


def test_get_many_blocks_until_a_message_arrives(new_broker: NewBroker) -> None:
    broker = new_broker()
    broker.declare_queue("q", [("ex", "#")])
    timer = threading.Timer(0.05, broker.publish, args=("ex", "k", b"late"))
    timer.start()
    try:
        assert [m.body for m in broker.get_many("q", 5, timeout=2)] == [b"late"]
    finally:
        timer.join()


def test_pending_counts_ready_and_unacknowledged_until_acked(new_broker: NewBroker) -> None:
    broker = new_broker()
    broker.declare_queue("store", [("ocpp-events", "#")])
    assert broker.pending("store") == 0 and broker.pending("unknown") == 0
    for body in (b"1", b"2"):
        broker.publish("ocpp-events", "ocpp-events.heart-beat", body)
    taken = broker.get("store", timeout=0)
    assert (broker.pending("store"), broker.depth("store")) == (2, 1)
    broker.ack("store", taken)
    assert broker.pending("store") == 1


def test_unbind_and_delete_queue_remove_only_their_own_bindings(new_broker: NewBroker) -> None:
    broker = new_broker()
    broker.declare_exchange("commands", "direct")
    for station in ("CP-1", "CP-2"):  # the gateway binds one routing key per station
        broker.declare_queue("gateway", [("commands", station)])
    broker.declare_queue("other", [("commands", "CP-2"), ("ocpp-events", "#")])
    broker.declare_queue("exact", [("ocpp-events", "ocpp-events.heart-beat")])
    broker.unbind("gateway", "commands", "CP-2")
    assert broker.publish("commands", "CP-1", b"1") == 1
    assert broker.publish("commands", "CP-2", b"2") == 1  # still bound for "other"
    broker.delete_queue("other")
    assert broker.publish("commands", "CP-2", b"3") == 0
    assert broker.publish("ocpp-events", "ocpp-events.heart-beat", b"4") == 1  # "exact" only
    broker.unbind("exact", "ocpp-events", "ocpp-events.heart-beat")
    assert broker.publish("ocpp-events", "ocpp-events.heart-beat", b"5") == 0
    assert [m.body for m in broker.get_many("gateway", 10, timeout=0)] == [b"1"]


def test_a_queue_bound_by_a_wildcard_and_an_exact_key_gets_a_message_once(
        new_broker: NewBroker) -> None:
    broker = new_broker()
    broker.declare_queue("q", [("ocpp-events", "ocpp-events.*"),
                               ("ocpp-events", "ocpp-events.boot")])
    assert broker.publish("ocpp-events", "ocpp-events.boot", b"b") == 1
    assert [m.body for m in broker.get_many("q", 10, timeout=0)] == [b"b"]


def test_a_consumer_of_one_queue_keeps_waiting_while_another_queue_fills(
        new_broker: NewBroker) -> None:
    broker = new_broker()
    broker.declare_queue("a", [("ocpp-events", "a")])
    broker.declare_queue("b", [("ocpp-events", "b")])
    got: list[object] = []
    waiter = threading.Thread(target=lambda: got.append(broker.get("a", timeout=5)))
    waiter.start()
    for _ in range(20):
        broker.publish("ocpp-events", "b", b"for b")
    broker.publish("ocpp-events", "a", b"for a")
    waiter.join(timeout=10)
    assert [m.body for m in got] == [b"for a"]  # type: ignore[attr-defined]
