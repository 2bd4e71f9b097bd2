"""A queue consumed by another process (csms_embedded.consumers): the parent only writes its
messages to the journal and counts them as pending until the consumer's ack deletes them; the
consumer reads them in id order, flags redelivered what a previous run may have had, keeps a
row until it is acknowledged, requeues and dead-letters in the file, and is woken by the parent's
commits."""

from __future__ import annotations

import threading
from pathlib import Path

from csms_embedded.broker import InProcessBroker
from csms_embedded.consumers import JournalQueues, parse_services
from csms_embedded.journal import Change, Journal, StoredMessage

EXCHANGE, KEY, QUEUE, DEAD = "ocpp-events", "ocpp-events.heart-beat", "store", "store.dead-letter"


def open_parent(path: Path, wake=lambda: None) -> InProcessBroker:
    broker = InProcessBroker(Journal(path))
    broker.consume_elsewhere(QUEUE, wake)
    broker.declare_queue(QUEUE, [(EXCHANGE, "#")], dead_letter_queue=DEAD, durable=True)
    return broker


def open_child(path: Path) -> JournalQueues:
    queues = JournalQueues(path)
    queues.declare_queue(QUEUE, dead_letter_queue=DEAD, durable=True)
    return queues


def test_the_parent_keeps_nothing_in_memory_and_counts_the_rows_as_pending(
        tmp_path: Path) -> None:
    woken = []
    parent = open_parent(tmp_path / "b.sqlite3", lambda: woken.append(1))
    for n in range(3):
        assert parent.publish(EXCHANGE, KEY, f"{n}".encode()) == 1
    assert woken and parent.pending(QUEUE) == 3 and parent.depth(QUEUE) == 3
    assert parent.get_many(QUEUE, 10, timeout=0) == []

    child = open_child(tmp_path / "b.sqlite3")
    taken = child.get_many(QUEUE, 10, timeout=0)
    assert [m.body for m in taken] == [b"0", b"1", b"2"]
    assert all(m.redelivered for m in taken)  # there before the consumer started
    assert parent.pending(QUEUE) == 3  # taken is not acknowledged
    for message in taken:
        child.ack(QUEUE, message)
    assert child.get_many(QUEUE, 10, timeout=0) == []  # the acks are committed first
    assert parent.pending(QUEUE) == 0
    child.close()
    parent.close()


def test_rows_there_at_start_and_requeued_ones_come_again_flagged_redelivered(
        tmp_path: Path) -> None:
    parent = open_parent(tmp_path / "b.sqlite3")
    parent.publish(EXCHANGE, KEY, b"before")
    child = open_child(tmp_path / "b.sqlite3")
    parent.publish(EXCHANGE, KEY, b"after")
    first, second = child.get_many(QUEUE, 10, timeout=0)
    assert (first.body, first.redelivered, second.body, second.redelivered) == (
        b"before", True, b"after", False)
    child.nack(QUEUE, second, requeue=True)
    again = child.get_many(QUEUE, 10, timeout=0)
    assert [(m.body, m.redelivered) for m in again] == [(b"after", True)]
    child.close()  # `first` and `again` unacknowledged: a crash

    restarted = open_child(tmp_path / "b.sqlite3")
    assert [(m.body, m.redelivered) for m in restarted.get_many(QUEUE, 10, timeout=0)] == [
        (b"before", True), (b"after", True)]
    restarted.close()
    parent.close()


def test_a_smaller_id_committed_after_a_larger_one_is_still_delivered(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "b.sqlite3")
    small, large = journal.new_id(), journal.new_id()

    def row(id_: int) -> StoredMessage:
        return StoredMessage(id_, QUEUE, EXCHANGE, KEY, str(id_).encode(), {}, {})

    journal.submit(Change(inserts=[row(large)])).result()
    child = open_child(tmp_path / "b.sqlite3")
    assert [m.body for m in child.get_many(QUEUE, 10, timeout=0)] == [str(large).encode()]
    journal.submit(Change(inserts=[row(small)])).result()
    assert [m.body for m in child.get_many(QUEUE, 10, timeout=0)] == [str(small).encode()]
    child.close()
    journal.close()


def test_dead_letters_go_to_the_dead_letter_queue_in_the_file(tmp_path: Path) -> None:
    parent = open_parent(tmp_path / "b.sqlite3")
    parent.publish(EXCHANGE, KEY, b"bad")
    parent.publish(EXCHANGE, KEY, b"worse")
    child = open_child(tmp_path / "b.sqlite3")
    bad, worse = child.get_many(QUEUE, 10, timeout=0)
    child.publish_to_queue(DEAD, KEY, bad.body, headers={"x-error": "boom"})
    child.ack(QUEUE, bad)
    child.nack(QUEUE, worse, requeue=False)
    assert child.get_many(QUEUE, 10, timeout=0) == []
    child.close()
    parent.close()

    restarted = InProcessBroker(Journal(tmp_path / "b.sqlite3"))
    restarted.declare_queue(QUEUE, [(EXCHANGE, "#")], dead_letter_queue=DEAD, durable=True)
    dead = restarted.get_many(DEAD, 10, timeout=0)
    assert sorted(m.body for m in dead) == [b"bad", b"worse"]
    assert {m.body: m.headers.get("x-error") for m in dead}[b"bad"] == "boom"
    restarted.close()


def test_a_waiting_consumer_is_woken_by_the_parents_commit(tmp_path: Path) -> None:
    children: list[JournalQueues] = []
    parent = open_parent(tmp_path / "b.sqlite3", lambda: children[0].wake())
    child = open_child(tmp_path / "b.sqlite3")
    children.append(child)
    got: list[bytes] = []
    waiter = threading.Thread(target=lambda: got.extend(
        m.body for m in child.get_many(QUEUE, 10, timeout=30)))
    waiter.start()
    parent.publish(EXCHANGE, KEY, b"hello")
    waiter.join(30)
    assert got == [b"hello"]
    child.close()
    parent.close()


def test_acks_handed_to_the_parent_are_deleted_by_its_journal_and_not_delivered_again(
        tmp_path: Path) -> None:
    parent = open_parent(tmp_path / "b.sqlite3")
    parent.publish(EXCHANGE, KEY, b"first")
    sent: list[int] = []
    child = JournalQueues(tmp_path / "b.sqlite3", sent.extend)
    child.declare_queue(QUEUE, dead_letter_queue=DEAD, durable=True)
    (first,) = child.get_many(QUEUE, 10, timeout=0)
    child.ack(QUEUE, first)
    parent.publish(EXCHANGE, KEY, b"second")
    assert [m.body for m in child.get_many(QUEUE, 10, timeout=0)] == [b"second"]
    assert sent == [first.journal_id] and parent.pending(QUEUE) == 2  # the row is still there
    parent.acknowledged_elsewhere(sent)
    parent.publish(EXCHANGE, KEY, b"third")  # its commit takes the delete along
    assert parent.pending(QUEUE) == 2
    assert [m.body for m in child.get_many(QUEUE, 10, timeout=0)] == [b"third"]
    child.close()
    parent.close()


def test_one_consumer_process_runs_the_workers_named() -> None:
    assert parse_services("event-store,save-server") == ["event-store", "save-server"]
    assert parse_services("save-server") == ["save-server"]
    for unknown in ("", "gateway", "event-store,gateway", "event-store,"):
        assert parse_services(unknown) is None, unknown
