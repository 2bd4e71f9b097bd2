"""Several processes of each role on one machine, against the local RabbitMQ and PostgreSQL.

Built on `tests/e2e/platform.py`: the same commands (`python -m ocpp_events serve`,
`python -m save_server worker|api|migrate`, `python -m event_store worker|api`), an exchange,
queues, a command exchange and a database of the run's own, all deleted afterwards. The
event-store processes share one SQLite file (WAL, several processes).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from save_server.infrastructure.messaging.rabbitmq import shard_queues
from tests.e2e import platform as e2e
from tests.e2e.platform import Platform, free_port, wait_until_healthy


@dataclass
class Cluster:
    platform: Platform
    suffix: str
    gateway_urls: list[str] = field(default_factory=list)
    gateway_http_urls: list[str] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return self.platform.env

    @property
    def save_server_url(self) -> str:
        return self.platform.save_server_url

    @property
    def event_store_url(self) -> str:
        return self.platform.event_store_url

    def process(self, name: str) -> subprocess.Popen:
        return next(p for n, p, _ in self.platform.processes if n == name)

    def pause(self, name: str) -> None:
        os.kill(self.process(name).pid, signal.SIGSTOP)

    def kill(self, name: str) -> None:
        """`kill -9` one process; it is left out of the health checks afterwards."""
        process = self.process(name)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        self.platform.processes = [p for p in self.platform.processes if p[0] != name]

    def spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        assert self.platform.log_dir
        e2e._spawn(self.platform, name, args, env or self.env, self.platform.log_dir)

    def logs(self) -> str:
        return self.platform.logs()


def _delete_shards(queue: str, shards: int) -> None:
    """The shard queues and the consistent-hash exchange named like the queue."""
    import pika

    if not shards:
        return
    connection = pika.BlockingConnection(pika.URLParameters(e2e.AMQP_URL))
    try:
        channel = connection.channel()
        for name in shard_queues(queue, shards):
            channel.queue_delete(name)
        channel.exchange_delete(queue)
    finally:
        connection.close()


def migrate(env: dict[str, str]) -> None:
    result = subprocess.run([sys.executable, "-m", "save_server", "migrate"], env=env,
                            capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"migrate failed:\n{result.stdout}\n{result.stderr}")


@contextlib.contextmanager
def cluster(tmp: Path, *, gateways: int = 2, save_workers: int = 2, store_workers: int = 2,
            shards: int = 0, extra_env: dict[str, str] | None = None) -> Iterator[Cluster]:
    """Start `gateways` gateways, `save_workers` save-server workers (on `shards` shard
    queues, SAVE_SERVER_SHARDS), `store_workers` event-store workers and one API of each
    service; yield once all are healthy."""
    suffix = uuid.uuid4().hex[:10]
    database, exchange = f"scaleout_{suffix}", f"scaleout-{suffix}"
    command_exchange = f"scaleout-commands-{suffix}"
    queues = {"SAVE_SERVER_QUEUE": f"scaleout-save-server-{suffix}",
              "EVENT_STORE_QUEUE": f"scaleout-event-store-{suffix}"}
    e2e._create_database(database)
    env = e2e.base_env(tmp)
    env.update(queues)
    env.update({
        "AMQP_URL": e2e.AMQP_URL, "AMQP_EXCHANGE": exchange,
        "AMQP_COMMAND_EXCHANGE": command_exchange,
        "DATABASE_URL": f"postgresql+psycopg2://postgres@127.0.0.1:5432/{database}",
        "EVENT_STORE_SQLITE_PATH": str(tmp / "events.sqlite3"),
        "SAVE_SERVER_SHARDS": str(shards),
        **e2e.signing_key_files(tmp),
        **(extra_env or {}),
    })
    platform = e2e._platform("services", env)
    platform.log_dir, platform.database = tmp, database
    running = Cluster(platform, suffix)
    try:
        migrate(env)
        for i in range(save_workers):
            running.spawn(f"save-server worker {i + 1}", ["save_server", "worker"])
        for i in range(store_workers):
            running.spawn(f"event-store worker {i + 1}", ["event_store", "worker"])
        running.spawn("save-server api", ["save_server", "api"])
        running.spawn("event-store api", ["event_store", "api"])
        for i in range(gateways):
            gateway_env = env if i == 0 else {**env, "GATEWAY_PORT": str(free_port()),
                                              "GATEWAY_HTTP_PORT": str(free_port())}
            running.spawn(f"gateway {i + 1}", ["ocpp_events", "serve"], gateway_env)
            running.gateway_urls.append(f"ws://127.0.0.1:{gateway_env['GATEWAY_PORT']}")
            running.gateway_http_urls.append(
                f"http://127.0.0.1:{gateway_env['GATEWAY_HTTP_PORT']}")
        wait_until_healthy([f"{platform.save_server_url}/health",
                            f"{platform.event_store_url}/health",
                            *(f"{url}/ready" for url in running.gateway_http_urls)], platform)
        e2e._wait_for_queues([*shard_queues(queues["SAVE_SERVER_QUEUE"], shards),
                              queues["EVENT_STORE_QUEUE"]])
        e2e.wait_until_authorized(platform)
        yield running
    finally:
        e2e._stop(platform)
        _delete_shards(queues["SAVE_SERVER_QUEUE"], shards)
        e2e._delete_broker_objects(exchange, list(queues.values()))
        e2e._delete_exchange(command_exchange)
        e2e._drop_database(database)


@contextlib.contextmanager
def reference_save_server(tmp: Path, source: Cluster,
                          shards: int = 0) -> Iterator[tuple[Platform, str]]:
    """A second save-server (one worker + API) on an empty database of its own, consuming a
    queue of its own (or its `shards` shard queues); yields (platform, queue) so the caller
    can replay events into it (a replay to `queue` goes to the exchange of that name when
    sharded)."""
    suffix = uuid.uuid4().hex[:10]
    database, exchange = f"scaleout_ref_{suffix}", f"scaleout-ref-{suffix}"
    queue = f"scaleout-ref-save-server-{suffix}"
    e2e._create_database(database)
    env = {**source.env, "AMQP_EXCHANGE": exchange, "SAVE_SERVER_QUEUE": queue,
           "SAVE_SERVER_PORT": str(free_port()), "SAVE_SERVER_SHARDS": str(shards),
           "DATABASE_URL": f"postgresql+psycopg2://postgres@127.0.0.1:5432/{database}"}
    platform = e2e._platform("services", env)
    platform.log_dir, platform.database = tmp, database
    try:
        migrate(env)
        e2e._spawn(platform, "reference save-server worker", ["save_server", "worker"], env,
                   tmp)
        e2e._spawn(platform, "reference save-server api", ["save_server", "api"], env, tmp)
        wait_until_healthy([f"{platform.save_server_url}/health"], platform)
        e2e._wait_for_queues(shard_queues(queue, shards))
        yield platform, queue
    finally:
        e2e._stop(platform)
        _delete_shards(queue, shards)
        e2e._delete_broker_objects(exchange, [queue])
        e2e._drop_database(database)


def queue_depth(queue: str) -> int:
    """Ready messages of a queue (unacknowledged ones are not counted)."""
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(e2e.AMQP_URL))
    try:
        return connection.channel().queue_declare(queue, passive=True).method.message_count
    finally:
        connection.close()
