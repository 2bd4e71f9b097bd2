"""A consumer process (`python -m csms_embedded consume …`, what the launcher starts with
CSMS_EMBEDDED_CONSUMER_PROCESSES=1) takes its queue's rows from the journal, deletes them after
its own commit, and ends by itself when its parent's pipe closes (the parent killed by SIGKILL
closes it too): no orphan keeps running."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from csms_embedded.broker import InProcessBroker
from csms_embedded.consumers import take_acks
from csms_embedded.journal import Journal

QUEUE, DEAD, EXCHANGE = "event-store", "event-store.dead-letter", "ocpp-events"
PATIENCE_SECONDS = 60  # a bound for a loaded machine, not a speed requirement


def until(condition, what: str) -> None:
    deadline = time.monotonic() + PATIENCE_SECONDS
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_the_consumer_process_acks_after_storing_and_ends_when_the_parent_pipe_closes(
        tmp_path: Path) -> None:
    broker = InProcessBroker(Journal(tmp_path / "broker.sqlite3"))
    read_end, write_end = os.pipe()
    broker.consume_elsewhere(QUEUE, lambda: os.write(write_end, b"."))
    broker.declare_queue(QUEUE, [(EXCHANGE, "#")], dead_letter_queue=DEAD, durable=True)
    assert broker.publish(EXCHANGE, "ocpp-events.heart-beat", b"not an event") == 1
    acks_in, acks_out = os.pipe()
    env = {k: v for k, v in os.environ.items() if k not in {"AMQP_URL", "MONGO_URL"}}
    child = subprocess.Popen(
        [sys.executable, "-m", "csms_embedded", "consume", "event-store", str(read_end),
         str(acks_out), str(tmp_path)], pass_fds=(read_end, acks_out), env=env)
    os.close(read_end)
    os.close(acks_out)
    threading.Thread(target=take_acks, args=(acks_in, broker), daemon=True).start()
    try:
        # the event-store refuses the body: dead-lettered in the file, gone from its queue
        until(lambda: broker.pending(QUEUE) == 0, "the row was never acknowledged")
        assert child.poll() is None
        os.close(write_end)  # what the parent's death does
        until(lambda: child.poll() is not None, "the consumer outlived its parent")
        assert child.returncode == 0
    finally:
        if child.poll() is None:
            child.kill()
        broker.close()
    restarted = InProcessBroker(Journal(tmp_path / "broker.sqlite3"))
    restarted.declare_queue(QUEUE, [(EXCHANGE, "#")], dead_letter_queue=DEAD, durable=True)
    assert [m.body for m in restarted.get_many(DEAD, 10, timeout=0)] == [b"not an event"]
    restarted.close()
