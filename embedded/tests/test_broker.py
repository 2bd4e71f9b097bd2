import threading

import pytest

from csms_embedded.broker import InProcessBroker, topic_matches


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


def test_publish_routes_once_to_each_bound_queue() -> None:
    broker = InProcessBroker()
    broker.declare_queue("store", [("ocpp-events", "#")])
    broker.declare_queue("save", [("ocpp-events", "ocpp-events.boot-notification"),
                                  ("ocpp-events", "ocpp-events.#")])
    assert broker.publish("ocpp-events", "ocpp-events.boot-notification", b"1") == 2
    assert broker.publish("other", "ocpp-events.boot-notification", b"2") == 0
    assert broker.depth("store") == 1 and broker.depth("save") == 1


def test_nack_requeues_at_front_flagged_redelivered() -> None:
    broker = InProcessBroker()
    broker.declare_queue("q", [("x", "#")])
    broker.publish("x", "a", b"first")
    broker.publish("x", "a", b"second")
    first = broker.get("q", 0)
    assert first is not None and not first.redelivered
    broker.nack("q", first, requeue=True)
    again = broker.get("q", 0)
    assert again is not None and again.body == b"first" and again.redelivered


def test_nack_without_requeue_dead_letters() -> None:
    broker = InProcessBroker()
    broker.declare_queue("q", [("x", "#")], dead_letter_queue="q.dead-letter")
    broker.publish("x", "a", b"poison")
    message = broker.get("q", 0)
    assert message is not None
    broker.nack("q", message, requeue=False)
    assert broker.depth("q") == 0
    assert broker.get("q.dead-letter", 0).body == b"poison"


def test_recover_redelivers_unacked_in_order() -> None:
    broker = InProcessBroker()
    broker.declare_queue("q", [("x", "#")])
    for body in (b"1", b"2", b"3"):
        broker.publish("x", "a", body)
    taken = [broker.get("q", 0), broker.get("q", 0)]
    broker.ack("q", taken[0])
    broker.recover("q")
    assert [broker.get("q", 0).body for _ in range(2)] == [b"2", b"3"]


def test_get_blocks_until_a_message_arrives() -> None:
    broker = InProcessBroker()
    broker.declare_queue("q", [("x", "#")])
    threading.Timer(0.05, lambda: broker.publish("x", "a", b"late")).start()
    message = broker.get("q", timeout=5)
    assert message is not None and message.body == b"late"
    assert broker.get("q", timeout=0.01) is None
