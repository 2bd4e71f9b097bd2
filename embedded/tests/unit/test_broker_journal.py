"""The broker with a journal: durable queues keep their unacknowledged messages across a
restart (a new broker on the same file), in order and flagged redelivered; a publish counts as
confirmed only once committed; acks, dead-lettering and deletes reach the file."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from csms_embedded.broker import InProcessBroker
from csms_embedded.journal import Journal

EXCHANGE, KEY = "ocpp-events", "ocpp-events.heart-beat"


def open_broker(path: Path, durable: bool = True) -> InProcessBroker:
    broker = InProcessBroker(Journal(path))
    broker.declare_queue("store", [(EXCHANGE, "#")], dead_letter_queue="store.dead-letter",
                         durable=durable)
    return broker


def bodies(broker: InProcessBroker, queue: str) -> list[bytes]:
    return [m.body for m in broker.get_many(queue, 100, timeout=0)]


def test_unacknowledged_messages_come_back_after_a_restart_in_order_flagged_redelivered(
        tmp_path: Path) -> None:
    broker = open_broker(tmp_path / "broker.sqlite3")
    for n in range(5):
        assert broker.publish(EXCHANGE, KEY, f"{n}".encode(), {"station": "CP-1"}) == 1
    broker.ack("store", broker.get("store", timeout=0))
    broker.get("store", timeout=0)  # taken, never acknowledged: the process dies
    broker.close()

    again = open_broker(tmp_path / "broker.sqlite3")
    messages = again.get_many("store", 100, timeout=0)
    assert [m.body for m in messages] == [b"1", b"2", b"3", b"4"]
    assert all(m.redelivered for m in messages)
    assert messages[0].headers == {"station": "CP-1"}
    for message in messages:
        again.ack("store", message)
    again.close()
    assert bodies(open_broker(tmp_path / "broker.sqlite3"), "store") == []


def test_a_confirmed_publish_is_on_disk_before_the_consumer_sees_it(tmp_path: Path) -> None:
    broker = open_broker(tmp_path / "broker.sqlite3")
    confirm = broker.publish_future(EXCHANGE, KEY, b"ev")
    assert confirm.result(timeout=5) == 1
    on_disk = Journal(tmp_path / "broker.sqlite3").stored()  # a second reader, as after a crash
    assert [m.body for m in on_disk["store"]] == [b"ev"]
    assert bodies(broker, "store") == [b"ev"]


def test_a_queue_declared_without_durable_is_not_kept(tmp_path: Path) -> None:
    broker = open_broker(tmp_path / "broker.sqlite3", durable=False)
    broker.publish(EXCHANGE, KEY, b"gone")
    broker.close()
    assert bodies(open_broker(tmp_path / "broker.sqlite3"), "store") == []


def test_dead_lettered_messages_stay_dead_lettered_after_a_restart(tmp_path: Path) -> None:
    broker = open_broker(tmp_path / "broker.sqlite3")
    broker.publish(EXCHANGE, KEY, b"poison")
    broker.nack("store", broker.get("store", timeout=0), requeue=False)
    broker.close()
    again = open_broker(tmp_path / "broker.sqlite3")
    assert bodies(again, "store") == []
    assert bodies(again, "store.dead-letter") == [b"poison"]


def test_publish_to_a_durable_queue_and_deleting_it_reach_the_journal(tmp_path: Path) -> None:
    broker = open_broker(tmp_path / "broker.sqlite3")
    broker.publish_to_queue("store.dead-letter", KEY, b"by hand")
    broker.publish(EXCHANGE, KEY, b"doomed")
    broker.delete_queue("store")
    broker.close()
    again = open_broker(tmp_path / "broker.sqlite3")
    assert bodies(again, "store") == []
    assert bodies(again, "store.dead-letter") == [b"by hand"]


def test_a_failed_commit_is_a_failed_confirm(tmp_path: Path) -> None:
    broker = open_broker(tmp_path / "broker.sqlite3")
    broker._journal._db.execute("DROP TABLE messages")  # the file refuses every write
    with pytest.raises(Exception, match="no such table"):
        broker.publish_future(EXCHANGE, KEY, b"ev").result(timeout=5)
    assert broker.pending("store") == 0, "an unconfirmed message is never delivered"


def test_an_ack_is_deleted_with_the_next_publish_commit(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("csms_embedded.journal.ACK_FLUSH_SECONDS", 60.0)  # no timed flush
    broker = open_broker(tmp_path / "broker.sqlite3")
    broker.publish(EXCHANGE, KEY, b"first")
    broker.ack("store", broker.get("store", timeout=1))
    broker.publish(EXCHANGE, KEY, b"second")  # confirmed: its commit carried the ack
    on_disk = Journal(tmp_path / "broker.sqlite3").stored()
    assert [m.body for m in on_disk["store"]] == [b"second"]
    broker.close()


def test_an_ack_with_no_publish_after_it_reaches_the_file_and_close_commits_the_rest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("csms_embedded.journal.ACK_FLUSH_SECONDS", 0.05)
    broker = open_broker(tmp_path / "broker.sqlite3")
    broker.publish(EXCHANGE, KEY, b"one")
    broker.publish(EXCHANGE, KEY, b"two")
    broker.ack("store", broker.get("store", timeout=1))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the writer's flush, not a publish, deletes it
        if [m.body for m in Journal(tmp_path / "broker.sqlite3").stored()["store"]] == [b"two"]:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the ack never reached the file")
    broker.ack("store", broker.get("store", timeout=1))
    broker.close()
    assert Journal(tmp_path / "broker.sqlite3").stored() == {}


def test_publish_then_reports_once_the_row_is_on_disk(tmp_path: Path) -> None:
    broker = open_broker(tmp_path / "broker.sqlite3")
    settled: list[tuple[int, BaseException | None, list[bytes]]] = []
    done = threading.Event()

    def record(routed: int, error: BaseException | None) -> None:
        on_disk = Journal(tmp_path / "broker.sqlite3").stored().get("store", [])
        settled.append((routed, error, [m.body for m in on_disk]))
        done.set()

    broker.publish_then(EXCHANGE, KEY, b"ev", record)
    assert done.wait(5)
    assert settled == [(1, None, [b"ev"])]


def test_a_failing_commit_callback_does_not_stop_the_journal(tmp_path: Path) -> None:
    broker = open_broker(tmp_path / "broker.sqlite3")

    def fail(routed: int, error: BaseException | None) -> None:
        raise RuntimeError("the publisher's callback broke")

    broker.publish_then(EXCHANGE, KEY, b"first", fail)
    assert broker.publish_future(EXCHANGE, KEY, b"second").result(timeout=5) == 1
    assert bodies(broker, "store") == [b"first", b"second"]
