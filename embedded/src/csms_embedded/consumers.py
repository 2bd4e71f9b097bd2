"""Consumer processes: a service's event worker in a child process taking its queue's messages
straight from the broker's journal (`CSMS_EMBEDDED_CONSUMER_PROCESSES=1`, read by the
launcher).

Why: the workers' CPU (SQL, JSON) then runs on another interpreter, so the gateway's answers no
longer wait behind them for the GIL (docs/performance.md, "Embedded mode"). The guarantees stay
the journal's: a publish is confirmed once its row is committed by the parent (unchanged); the
child deletes a row only after its own commit (its ack), so a row a crash leaves is delivered
again at the next start, flagged redelivered, and the worker skips it by event id.

Wake-ups and the parent's death share one pipe: the parent writes a byte after each commit that
added rows for the queue; the child blocks reading it, and end of file means the parent is gone
(even after a SIGKILL), so the child finishes its batch and exits instead of running on.
No library: a persistent-queue library (persist-queue, litequeue) would be a second store beside
the journal the broker already commits to; reading that table is ~100 lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import pathlib
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import IO

from csms_embedded.broker import InProcessBroker, Message
from csms_embedded.journal import BUSY_TIMEOUT_SECONDS
from csms_embedded.logfile import copy_line

POLL_SECONDS = 1.0  # a missed wake-up costs at most this
READ_AHEAD = 500  # rows read per query (the workers take one message at a time or batches)
STOP_SECONDS = 10.0  # a child's last batch after SIGTERM, then SIGKILL
SERVICES = ("event-store", "save-server")


class JournalQueues:
    """The part of InProcessBroker a worker's stream uses, served from the journal file in a
    consumer process. Acks are collected and handed over before the next fetch (one batch):
    to `send_acks`, the launcher, whose journal deletes the rows with its next commit, so this
    process does not take the file's write lock in the hot path (waiting for it cost the
    gateway's publishes their p99); without it they are deleted here. A lost ack only means a
    redelivery."""

    def __init__(self, path: pathlib.Path,
                 send_acks: Callable[[list[int]], None] | None = None) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                   timeout=BUSY_TIMEOUT_SECONDS)
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._lock = threading.Lock()
        self._woken = threading.Condition(self._lock)
        self._wakes = 0
        self._closed = False
        # rows there at start may have been delivered before a crash
        last = self._db.execute("SELECT max(id) FROM messages").fetchone()[0]
        self._redelivered_up_to = last or 0
        # ids read and not yet acknowledged, by queue (in `_ready` or handed out). No cursor:
        # ids are taken before the parent's group commit, so a smaller id may appear later
        self._held: dict[str, set[int]] = {}
        self._ready: dict[str, deque[Message]] = {}  # read ahead, not yet handed out
        self._acked: list[int] = []
        self._send_acks = send_acks
        self._gone: dict[str, set[int]] = {}  # acks handed over, rows maybe not deleted yet
        self._dead_letters: dict[str, str] = {}
        self._tags = itertools.count(1)

    def wake(self) -> None:
        with self._lock:
            self._wakes += 1
            self._woken.notify_all()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._woken.notify_all()
            self._flush()
            self._db.close()

    # the calls the services' embedded stream and feed make
    def declare_queue(self, name: str, bindings: Iterable[tuple[str, str]] = (),
                      dead_letter_queue: str | None = None, durable: bool = False) -> None:
        """The parent declared it (bindings) before starting this process."""
        if dead_letter_queue:
            with self._lock:
                self._dead_letters[name] = dead_letter_queue

    def has_queue(self, name: str) -> bool:
        return True

    def get(self, queue: str, timeout: float | None = None) -> Message | None:
        taken = self.get_many(queue, 1, timeout)
        return taken[0] if taken else None

    def get_many(self, queue: str, max_messages: int,
                 timeout: float | None = None) -> list[Message]:
        with self._lock:
            self._flush()
            deadline = None if timeout is None else _now() + timeout
            while not self._closed:
                seen = self._wakes
                taken = self._take(queue, max_messages)
                if taken:
                    return taken
                left = POLL_SECONDS if deadline is None else min(POLL_SECONDS, deadline - _now())
                if left <= 0:
                    return []
                self._woken.wait_for(lambda s=seen: self._wakes != s or self._closed, left)
            return []

    def depth(self, queue: str) -> int:
        with self._lock:
            handed_out = len(self._held.get(queue, ())) - len(self._ready.get(queue, ()))
            return self._db.execute("SELECT count(*) FROM messages WHERE queue = ?",
                                    (queue,)).fetchone()[0] - handed_out

    def ack(self, queue: str, message: Message) -> None:
        with self._lock:
            self._release(queue, message)
            self._acked.append(message.journal_id)
            if self._send_acks is not None:
                self._gone.setdefault(queue, set()).add(message.journal_id)

    def nack(self, queue: str, message: Message, requeue: bool = True) -> None:
        with self._lock:
            self._release(queue, message)
            if requeue:  # at the front, as RabbitMQ does
                self._held.setdefault(queue, set()).add(message.journal_id)
                self._ready.setdefault(queue, deque()).appendleft(Message(
                    message.exchange, message.routing_key, message.body, message.headers,
                    message.properties, True, 0, message.journal_id))
            elif queue in self._dead_letters:
                self._db.execute("UPDATE messages SET queue = ? WHERE id = ?",
                                 (self._dead_letters[queue], message.journal_id))
            else:
                self._acked.append(message.journal_id)

    def publish_to_queue(self, queue: str, routing_key: str, body: bytes,
                         headers: dict | None = None, properties: dict | None = None) -> None:
        """A dead letter: a row of its own. Negative ids, so they never meet the parent's
        (which counts up from the largest id at its start)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                lowest = self._db.execute("SELECT min(id) FROM messages").fetchone()[0] or 0
                self._db.execute("INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?)",
                                 (min(lowest, 0) - 1, queue, "", routing_key, body,
                                  json.dumps(headers or {}), json.dumps(properties or {})))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _take(self, queue: str, max_messages: int) -> list[Message]:
        ready = self._ready.setdefault(queue, deque())
        if not ready:
            self._read_ahead(queue, ready)
        taken = []
        while ready and len(taken) < max_messages:
            m = ready.popleft()
            taken.append(Message(m.exchange, m.routing_key, m.body, m.headers, m.properties,
                                 m.redelivered, next(self._tags), m.journal_id))
        return taken

    def _read_ahead(self, queue: str, ready: deque[Message]) -> None:
        held, gone = self._held.setdefault(queue, set()), self._gone.setdefault(queue, set())
        rows = self._db.execute(
            "SELECT id, exchange, routing_key, body, headers, properties FROM messages "
            "WHERE queue = ? ORDER BY id LIMIT ?",
            (queue, READ_AHEAD + len(held) + len(gone))).fetchall()
        # the rows come smallest id first: an acknowledged id below the first is deleted
        first = rows[0][0] if rows else None
        gone.difference_update([i for i in gone if first is None or i < first])
        for id_, exchange, key, body, headers, properties in rows:
            if id_ not in held and id_ not in gone:
                held.add(id_)
                ready.append(Message(exchange, key, bytes(body), json.loads(headers),
                                     json.loads(properties), id_ <= self._redelivered_up_to,
                                     0, id_))

    def _release(self, queue: str, message: Message) -> None:
        self._held.get(queue, set()).discard(message.journal_id)

    def _flush(self) -> None:
        """Hand the acknowledged ids over, or delete their rows (the lock held)."""
        if not self._acked:
            return
        acked, self._acked = self._acked, []
        if self._send_acks is not None:
            self._send_acks(acked)
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany("DELETE FROM messages WHERE id = ?", [(i,) for i in acked])
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            self._acked[:0] = acked
            raise


def _now() -> float:
    return time.monotonic()


class ConsumerProcess:
    """The launcher's EmbeddedService for the event workers in one child process (one
    interpreter for all of them: each child costs its own Python and libraries); the services
    themselves run with `worker=False` in the parent (their APIs, their other consumers)."""

    name = "consumers"

    def __init__(self, workers: dict[str, str], broker: InProcessBroker,
                 data_dir: pathlib.Path) -> None:
        """`workers`: the queue of each service in SERVICES whose worker runs there."""
        self.consumes = tuple(workers.values())
        self._services, self._data_dir = tuple(workers), data_dir
        self._read_end, self._write_end = os.pipe()  # wake-ups, and the parent is alive
        os.set_blocking(self._write_end, False)
        self._acks_in, self._acks_out = os.pipe()  # the child's acknowledged ids
        self._broker = broker
        for queue in self.consumes:
            broker.consume_elsewhere(queue, self._wake)
        self._process: subprocess.Popen[bytes] | None = None

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):  # full: a wake-up waits already
            os.write(self._write_end, b".")

    async def start(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "csms_embedded", "consume", ",".join(self._services),
             str(self._read_end), str(self._acks_out), str(self._data_dir)],
            pass_fds=(self._read_end, self._acks_out), stderr=subprocess.PIPE)
        os.close(self._read_end)
        os.close(self._acks_out)
        threading.Thread(target=take_acks, args=(self._acks_in, self._broker), daemon=True,
                         name=f"{self.name}-acks").start()
        threading.Thread(target=_copy_log_lines, args=(self._process.stderr,), daemon=True,
                         name=f"{self.name}-log").start()

    async def wait(self) -> None:
        assert self._process is not None
        while self._process.poll() is None:
            await asyncio.sleep(0.2)

    async def stop_producing(self) -> None:
        """It publishes nothing (a dead letter goes straight to the journal)."""

    async def stop(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                await asyncio.to_thread(process.wait, STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait)
        os.close(self._write_end)


def take_acks(acks_in: int, broker: InProcessBroker) -> None:
    """The child's acknowledged ids, one per line: deleted with the journal's next commit
    (all the ids of one read at once: one GIL turn per batch, not per id)."""
    left = b""
    while chunk := os.read(acks_in, 65536):
        *lines, left = (left + chunk).split(b"\n")
        broker.acknowledged_elsewhere(int(line) for line in lines)
    os.close(acks_in)


def parse_services(argument: str) -> list[str] | None:
    """`event-store,save-server` → the services named, or None if one is not in SERVICES."""
    services = argument.split(",")
    return services if services and set(services) <= set(SERVICES) else None


def run_consumer(services: list[str], wake_fd: int, acks_fd: int, data_dir: pathlib.Path,
                 niceness: int = 0) -> None:
    """The child: run the services' workers on the journal, a thread each, until SIGTERM or
    the parent's end; one worker ending ends them all (the launcher then stops)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent decides (drain first)
    os.nice(niceness)  # the gateway's answers first; a consumer behind catches up later
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    acks = os.fdopen(acks_fd, "wb")

    def send_acks(ids: list[int]) -> None:  # called under JournalQueues' lock: one writer
        try:
            acks.write(b"".join(b"%d\n" % i for i in ids))
            acks.flush()
        except BrokenPipeError:  # the parent is gone: the rows stay, redelivered later
            stop.set()

    queues = JournalQueues(data_dir / "broker.sqlite3", send_acks)
    threading.Thread(target=_watch_parent, args=(wake_fd, queues, stop), daemon=True,
                     name="parent-pipe").start()
    workers = [threading.Thread(target=_worker_of(service), args=(queues, data_dir, stop),
                                name=f"{service}-worker") for service in services]
    for worker in workers:
        worker.start()
    while not stop.wait(0.5) and all(worker.is_alive() for worker in workers):
        pass
    stop.set()
    queues.wake()
    for worker in workers:
        worker.join()
    queues.close()


def _worker_of(service: str) -> Callable[[JournalQueues, pathlib.Path, threading.Event], None]:
    """The service's worker alone (its module imports no API: csms_embedded's memory)."""
    if service == "save-server":
        from save_server.embedded_worker import run_embedded_worker
    else:
        from event_store.embedded_worker import run_embedded_worker
    return run_embedded_worker  # type: ignore[return-value]


def _copy_log_lines(stream: IO[bytes] | None) -> None:
    """The child's log lines: to the launcher's stderr and its log file (`CSMS_LOG_FILE`)."""
    for raw in stream or ():
        line = raw.decode("utf-8", "replace")
        sys.stderr.write(line)
        sys.stderr.flush()
        copy_line(line.rstrip("\n"))


def _watch_parent(wake_fd: int, queues: JournalQueues, stop: threading.Event) -> None:
    while os.read(wake_fd, 4096):
        queues.wake()
    stop.set()  # end of file: the parent is gone
    queues.wake()
