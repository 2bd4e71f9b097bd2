"""`python -m event_store api|worker` as subprocesses of the bench, on free ports, stopped
with SIGTERM; plus the RabbitMQ names the bench creates and deletes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pika

AMQP_URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def event_store_process(role: str, sqlite_path: Path, log_path: Path,
                        **env_vars: str) -> Iterator[tuple[str, int]]:
    """Yields (base URL or "", pid). The API is waited for until /ready answers."""
    port = free_port()
    env = {**os.environ, "EVENT_STORE_SQLITE_PATH": str(sqlite_path),
           "EVENT_STORE_HOST": "127.0.0.1", "EVENT_STORE_PORT": str(port),
           "LOG_LEVEL": "WARNING", **env_vars}
    env.pop("MONGO_URL", None)  # the embedded adapter is what is measured here
    with open(log_path, "ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "event_store", role], env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}" if role == "api" else ""
    try:
        if base:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"event_store {role} exited with {process.returncode}")
                try:
                    if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("event_store api not ready after 60 s")
                time.sleep(0.1)
        yield base, process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class RabbitNames:
    """Unique exchange / queues for one run; everything declared here is deleted by
    `delete()` (queues also carry x-expires = 1 h as a safety net where the bench declares
    them itself)."""

    def __init__(self) -> None:
        suffix = uuid.uuid4().hex[:10]
        self.exchange = f"bench-es-{suffix}"
        self.store_queue = f"bench-es-{suffix}"
        self.replay_queue = f"bench-es-replay-{suffix}"
        self.baseline_queue = f"bench-es-baseline-{suffix}"

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.store_queue}.dead-letter"

    def channel(self) -> tuple[pika.BlockingConnection, object]:
        connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
        return connection, connection.channel()

    def depth(self, queue: str) -> int:
        connection, channel = self.channel()
        try:
            return int(channel.queue_declare(queue, passive=True).method.message_count)
        finally:
            connection.close()

    def delete(self) -> None:
        connection, channel = self.channel()
        for queue in (self.store_queue, self.dead_letter_queue, self.replay_queue,
                      self.baseline_queue):
            channel.queue_delete(queue)  # type: ignore[attr-defined]
        channel.exchange_delete(self.exchange)  # type: ignore[attr-defined]
        connection.close()
