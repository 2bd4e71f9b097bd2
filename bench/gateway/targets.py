"""Start and stop the processes under test: the real gateway and the bare baseline server.

The gateway runs as `python -m ocpp_events serve` against the local RabbitMQ with an exchange
of its own and a durable queue bound `#` (so the mandatory, confirmed publishes are real); both
are deleted afterwards. The queue is declared like the platform's own queues (durable classic
queue of the broker's default version, no other arguments than an hour's `x-expires` safety
net — event-store's queue exactly; save-server's adds only dead-lettering) unless `queue_type`
says otherwise, and with `consume` a consumer drains it during the run as save-server's and
event-store's workers do (manual acks, prefetch 200). Nothing of the gateway's code is
imported here.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pika

REPO = pathlib.Path(__file__).resolve().parents[2]
READY_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 20.0
QUEUE_EXPIRES_MS = 3_600_000  # safety net: an abandoned queue disappears after an hour unused
QUEUE_ARGUMENTS: dict[str, dict[str, object]] = {
    "classic": {},  # what save-server and event-store declare (v1 on RabbitMQ 3.10)
    "classic-v2": {"x-queue-version": 2},
    "lazy": {"x-queue-mode": "lazy"},
    "quorum": {"x-queue-type": "quorum"},
}
CONSUMER_PREFETCH = 200  # save-server's default prefetch


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=0.5) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def fetch_text(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())
    except (urllib.error.URLError, OSError):
        return None


def histogram_quantiles(metrics_text: str, name: str,
                        shares: tuple[float, ...] = (0.5, 0.99)) -> dict[str, float | int | None]:
    """Quantiles (bucket upper bounds, seconds) of a Prometheus histogram, labels summed."""
    buckets: dict[float, float] = {}
    for line in metrics_text.splitlines():
        if not line.startswith(f"{name}_bucket{{"):
            continue
        labels, _, value = line.rpartition(" ")
        bound_text = labels.split('le="', 1)[1].split('"', 1)[0]
        bound = float("inf") if bound_text == "+Inf" else float(bound_text)
        buckets[bound] = buckets.get(bound, 0.0) + float(value)
    count = buckets.get(float("inf"), 0.0)
    figures: dict[str, float | int | None] = {"count": int(count)}
    for share in shares:
        figures[f"p{share * 100:g}"] = next(
            (bound for bound, cumulative in sorted(buckets.items())
             if count and cumulative >= share * count), None)
    return figures


@dataclass
class RunningTarget:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: pathlib.Path
    exit_code: int | None = None
    stop_seconds: float | None = None
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        """SIGTERM, then wait (the gateway must close connections and exit 0); kill if stuck."""
        if self.process.poll() is None:
            started = time.monotonic()
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
            self.stop_seconds = round(time.monotonic() - started, 2)
        self.exit_code = self.process.returncode

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _wait_ready(target: RunningTarget, ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if target.process.poll() is not None:
            raise RuntimeError(f"{target.name} exited with {target.process.returncode} before "
                               f"it was ready:\n{target.log_tail()}")
        if ready():
            return
        time.sleep(0.1)
    target.stop()
    raise RuntimeError(f"{target.name} not ready within {READY_TIMEOUT_SECONDS} s:\n"
                       f"{target.log_tail()}")


def _spawn(name: str, argv: list[str], env: dict[str, str], log_dir: pathlib.Path,
           port: int) -> RunningTarget:
    log_path = log_dir / f"{name}.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(argv, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, cwd=REPO)  # bench importable
    return RunningTarget(name, process, port, log_path)


@contextlib.contextmanager
def baseline_server(log_dir: pathlib.Path,
                    extra_args: tuple[str, ...] = ()) -> Iterator[RunningTarget]:
    port = free_port()
    argv = [sys.executable, "-m", "bench.gateway.baseline_server", "--port", str(port),
            "--gc-stats", *extra_args]
    target = _spawn("baseline", argv, dict(os.environ), log_dir, port)
    try:
        _wait_ready(target, lambda: port_open(port))
        yield target
    finally:
        target.stop()


@dataclass
class QueueAudit:
    """What the bench queue held at the end: the events the broker confirmed to the gateway."""

    messages: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    duplicate_event_ids: int = 0

    def count(self, body: bytes, seen: set[str]) -> None:
        event = json.loads(body)
        self.messages += 1
        self.by_type[event.get("type")] = self.by_type.get(event.get("type"), 0) + 1
        event_id = event.get("event_id")
        self.duplicate_event_ids += event_id in seen
        seen.add(event_id)


def audit_queue(channel: pika.adapters.blocking_connection.BlockingChannel, queue: str,
                audit: QueueAudit | None = None, seen: set[str] | None = None) -> QueueAudit:
    """Drain the queue (it is deleted right after) counting events by type and duplicates,
    on top of what a draining consumer already counted (`audit`, `seen`)."""
    audit = audit or QueueAudit()
    seen = set() if seen is None else seen
    waiting = channel.queue_declare(queue, passive=True).method.message_count
    channel.basic_qos(prefetch_count=1000)
    for received, (_method, _properties, body) in enumerate(
            channel.consume(queue, auto_ack=True, inactivity_timeout=2)):
        if body is None or received >= waiting:
            break
        audit.count(body, seen)
    channel.cancel()
    return audit


class DrainingConsumer:
    """Consumes the bench queue during the run like the platform's workers (manual acks,
    prefetch 200), counting what it sees for the audit."""

    def __init__(self, amqp_url: str, queue: str) -> None:
        self.audit, self.seen = QueueAudit(), set[str]()
        self._url, self._queue = amqp_url, queue
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-consumer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        connection = pika.BlockingConnection(pika.URLParameters(self._url))
        try:
            channel = connection.channel()
            channel.basic_qos(prefetch_count=CONSUMER_PREFETCH)

            def on_message(ch, method, _properties, body) -> None:  # type: ignore[no-untyped-def]
                self.audit.count(body, self.seen)
                ch.basic_ack(method.delivery_tag)

            tag = channel.basic_consume(self._queue, on_message)
            while not self._stop.is_set():
                connection.process_data_events(time_limit=0.2)
            channel.basic_cancel(tag)  # unacked deliveries go back for the final audit
        finally:
            connection.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def commands_exchange_name(events_exchange: str) -> str:
    """The remote-commands exchange given to the gateway under test (kept apart as well)."""
    return f"{events_exchange}-commands"


@contextlib.contextmanager
def bench_exchange(amqp_url: str, queue_type: str = "classic",
                   consume: bool = False) -> Iterator[tuple[str, str, list[QueueAudit]]]:
    """A unique durable topic exchange and a durable queue bound `#`; both deleted at the end.

    Yields (exchange, queue, audits); `audits` receives the `QueueAudit` taken just before the
    queue is deleted (with `consume`, including what the draining consumer saw).
    """
    suffix = uuid.uuid4().hex[:10]
    exchange, queue = f"bench-gateway-{suffix}", f"bench-gateway-{suffix}"
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        channel.exchange_declare(exchange, exchange_type="topic", durable=True)
        channel.queue_declare(queue, durable=True, arguments={
            "x-expires": QUEUE_EXPIRES_MS, **QUEUE_ARGUMENTS[queue_type]})
        channel.queue_bind(queue, exchange, routing_key="#")
    finally:
        connection.close()
    audits: list[QueueAudit] = []
    consumer = DrainingConsumer(amqp_url, queue) if consume else None
    if consumer is not None:
        consumer.start()
    try:
        yield exchange, queue, audits
    finally:
        if consumer is not None:
            consumer.stop()
        connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
        try:
            channel = connection.channel()
            try:
                audits.append(audit_queue(channel, queue, *(
                    (consumer.audit, consumer.seen) if consumer else ())))
            except (pika.exceptions.AMQPError, ValueError) as failure:
                print(f"!! could not audit {queue}: {failure!r}", flush=True)
            channel = connection.channel() if channel.is_closed else channel
            channel.queue_delete(queue)
            channel.exchange_delete(exchange)
            channel.exchange_delete(commands_exchange_name(exchange))  # the gateway declared it
            channel.exchange_delete(f"{exchange}.registry")  # and its station registry feed
        finally:
            connection.close()


@contextlib.contextmanager
def gateway(log_dir: pathlib.Path, amqp_url: str, exchange: str, log_level: str,
            extra_env: dict[str, str], wrapper: tuple[str, ...] = ()) -> Iterator[RunningTarget]:
    """`python -m ocpp_events serve`; with `wrapper` (gc_wrapper.py arguments) run through
    bench.gateway.gc_wrapper, which logs the gateway's GC pauses."""
    port, http_port = free_port(), free_port()
    env = dict(os.environ)
    env.update({
        "GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": str(port),
        "GATEWAY_HTTP_PORT": str(http_port), "AMQP_URL": amqp_url, "AMQP_EXCHANGE": exchange,
        "AMQP_COMMAND_EXCHANGE": commands_exchange_name(exchange),
        "DATA_DIR": str(log_dir / "gateway-data"), "LOG_LEVEL": log_level,
        "GATEWAY_UNKNOWN_STATIONS": "auto-register",  # the simulated stations are unregistered
        "GATEWAY_UNKNOWN_ID_TAGS": "accept",  # and so are their id tags
    })
    env.update(extra_env)
    argv = [sys.executable, "-m", "ocpp_events", "serve"]
    if wrapper:
        argv = [sys.executable, "-m", "bench.gateway.gc_wrapper", *wrapper, *argv[1:]]
    target = _spawn("gateway", argv, env, log_dir, port)
    target.extra["http_port"] = http_port
    try:
        _wait_ready(target, lambda: port_open(port)
                    and http_ok(f"http://127.0.0.1:{http_port}/ready"))
        yield target
    finally:
        target.extra["metrics"] = fetch_text(f"http://127.0.0.1:{http_port}/metrics")
        target.stop()
