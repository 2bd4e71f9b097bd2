"""Start the platform for end-to-end tests, in either mode, as real processes.

- ``embedded``: ``python -m csms_embedded`` (in-process broker, SQLite), exactly as `make run`.
- ``services``: one process per role against the machine's RabbitMQ and PostgreSQL, with an
  exchange, queues and a database of the test's own, deleted afterwards.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.ports import free_port, free_port_block

AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
PG_ADMIN_DSN = os.environ.get("TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
TIME_FACTOR = float(os.environ.get("TEST_TIME_FACTOR", "1"))
# Every platform these tests start gets this key as its preset first admin key
# (CSMS_ADMIN_API_KEY): the APIs answer nobody without a credential.
ADMIN_KEY = f"csk_{secrets.token_hex(6)}_{secrets.token_urlsafe(24)}"
API_HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}"}
ADMIN_AUDIT_NAME = f"admin@localhost (api-key:{ADMIN_KEY[4:16]})"  # `requested_by` of its calls
PROCFILE = Path(__file__).resolve().parents[2] / "Procfile"


def api_headers() -> dict[str, str]:
    """Headers of every request the tests send to the save-server and event-store APIs."""
    return dict(API_HEADERS)


def honcho_base_port(roles: int) -> int:
    """A base port for honcho's `-p`: it gives the i-th role base + 100 * i, so every one of
    those must be free, not only the base."""
    return free_port_block(roles)


@dataclass
class Platform:
    mode: str
    gateway_url: str
    save_server_url: str
    event_store_url: str
    gateway_http_url: str
    processes: list[tuple[str, subprocess.Popen, Path]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    log_dir: Path | None = None
    database: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return dict(API_HEADERS)

    def station_url(self, station_id: str) -> str:
        return f"{self.gateway_url}/ocpp/{station_id}"

    def logs(self) -> str:
        parts = []
        for name, _, log in self.processes:
            text = log.read_text(errors="replace") if log.exists() else ""
            parts.append(f"----- {name} -----\n{text[-4000:]}")
        return "\n".join(parts)


def wait_until_healthy(urls: list[str], platform: Platform, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout * TIME_FACTOR
    pending = list(urls)
    while pending and time.monotonic() < deadline:
        for name, process, _ in platform.processes:
            if process.poll() is not None and name != "save-server migrate":
                raise RuntimeError(f"{name} exited with {process.returncode}\n{platform.logs()}")
        url = pending[0]
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                pending.pop(0)
                continue
        time.sleep(0.2)
    if pending:
        raise RuntimeError(f"not healthy in time: {pending}\n{platform.logs()}")


def _spawn(platform: Platform, name: str, args: list[str], env: dict, log_dir: Path) -> None:
    log = log_dir / f"{name.replace(' ', '-')}.log"
    handle = log.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", *args], env=env, stdout=handle, stderr=subprocess.STDOUT
    )
    platform.processes.append((name, process, log))


def _stop(platform: Platform) -> None:
    for _, process, _ in reversed(platform.processes):
        if process.poll() is None:
            process.terminate()
    for _, process, _ in platform.processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def base_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"AMQP_URL", "DATABASE_URL", "MONGO_URL"}}
    ports = {name: free_port() for name in
             ("GATEWAY_PORT", "GATEWAY_HTTP_PORT", "SAVE_SERVER_PORT", "EVENT_STORE_PORT")}
    env.update({k: str(v) for k, v in ports.items()})
    env.update({"DATA_DIR": str(tmp / "data"), "LOG_LEVEL": "INFO", "LOG_FORMAT": "console",
                "GATEWAY_HOST": "127.0.0.1", "SAVE_SERVER_HOST": "127.0.0.1",
                "EVENT_STORE_HOST": "127.0.0.1", "PYTHONUNBUFFERED": "1",
                "CSMS_ADMIN_API_KEY": ADMIN_KEY,
                # The simulated chargers connect without credentials and nobody registers
                # them (services mode refuses unknown stations by default; station admission
                # has its own tests in ocpp-events/tests and tests/deploy).
                "GATEWAY_UNKNOWN_STATIONS": "auto-register",
                # nor their id tags (id tag decisions have their own tests in ocpp-events)
                "GATEWAY_UNKNOWN_ID_TAGS": "accept"})
    return env


def signing_key_files(folder: Path) -> dict[str, str]:
    """Services mode: save-server's signing key and the public key the event-store checks
    tokens with, made for this run (never committed)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private, public = folder / "auth-signing-key.pem", folder / "auth-public-key.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return {"AUTH_SIGNING_KEY_FILE": str(private), "AUTH_PUBLIC_KEYS_FILE": str(public)}


def wait_until_authorized(platform: Platform, timeout: float = 60) -> None:
    """The first admin's key works on both APIs (the event-store learns it from the account
    events save-server publishes, a moment after both started)."""
    deadline = time.monotonic() + timeout * TIME_FACTOR
    pending = [f"{platform.save_server_url}/auth/me", f"{platform.event_store_url}/events/stats"]
    while pending and time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(pending[0], headers=API_HEADERS, timeout=2).status_code == 200:
                pending.pop(0)
                continue
        time.sleep(0.2)
    if pending:
        raise RuntimeError(f"the admin key is not accepted in time: {pending}\n"
                           f"{platform.logs()}")


def _platform(mode: str, env: dict[str, str]) -> Platform:
    return Platform(
        mode=mode,
        env=env,
        gateway_url=f"ws://127.0.0.1:{env['GATEWAY_PORT']}",
        gateway_http_url=f"http://127.0.0.1:{env['GATEWAY_HTTP_PORT']}",
        save_server_url=f"http://127.0.0.1:{env['SAVE_SERVER_PORT']}",
        event_store_url=f"http://127.0.0.1:{env['EVENT_STORE_PORT']}",
    )


def _health_urls(platform: Platform) -> list[str]:
    return [f"{platform.save_server_url}/health", f"{platform.event_store_url}/health",
            f"{platform.gateway_http_url}/health"]


@contextlib.contextmanager
def embedded_platform(tmp: Path, env: dict[str, str] | None = None,
                      name: str = "csms_embedded") -> Iterator[Platform]:
    """`python -m csms_embedded`; pass the `env` of an earlier platform to start it again on
    the same ports and DATA_DIR (give each run its own `name`: it names the log file)."""
    env = env or base_env(tmp)
    platform = _platform("embedded", env)
    platform.log_dir = tmp
    _spawn(platform, name, ["csms_embedded"], env, tmp)
    try:
        wait_until_healthy(_health_urls(platform), platform)
        wait_until_authorized(platform)
        yield platform
    finally:
        _stop(platform)


def stop_with_sigterm(platform: Platform, timeout: float = 60) -> list[int]:
    """SIGTERM every process of the platform (what Ctrl-C, systemd or docker send) and wait
    for them to exit by themselves; returns their exit codes."""
    for _, process, _ in platform.processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    return [process.wait(timeout=timeout * TIME_FACTOR) for _, process, _ in platform.processes]


@contextlib.contextmanager
def services_resources(tmp: Path) -> Iterator[tuple[dict[str, str], str]]:
    """The environment of a services-mode platform with an exchange, queues, a command exchange
    and a database of its own (created now, deleted afterwards); yields (env, database)."""
    suffix = uuid.uuid4().hex[:10]
    database = f"e2e_{suffix}"
    exchange = f"e2e-{suffix}"
    queues = {"SAVE_SERVER_QUEUE": f"e2e-save-server-{suffix}",
              "EVENT_STORE_QUEUE": f"e2e-event-store-{suffix}"}
    command_exchange = f"e2e-commands-{suffix}"  # remote commands (docs/commands.md)
    _create_database(database)
    env = base_env(tmp)
    env.update(queues)
    env.update({
        "AMQP_URL": AMQP_URL,
        "AMQP_EXCHANGE": exchange,
        "DATABASE_URL": f"postgresql+psycopg2://postgres@127.0.0.1:5432/{database}",
        "EVENT_STORE_SQLITE_PATH": str(tmp / "events.sqlite3"),
        "AMQP_COMMAND_EXCHANGE": command_exchange,
        **signing_key_files(tmp),
    })
    try:
        yield env, database
    finally:
        _delete_broker_objects(exchange, list(queues.values()))
        _delete_exchange(command_exchange)
        _drop_database(database)


def _queue_names(env: dict[str, str]) -> list[str]:
    return [env["SAVE_SERVER_QUEUE"], env["EVENT_STORE_QUEUE"]]


@contextlib.contextmanager
def services_platform(tmp: Path, overrides: dict[str, str] | None = None
                      ) -> Iterator[Platform]:
    """`overrides`: settings put over the test's own (e.g. an existing event store file)."""
    with services_resources(tmp) as (env, database):
        env.update(overrides or {})
        platform = _platform("services", env)
        platform.log_dir, platform.database = tmp, database
        try:
            _start_save_server(platform)
            _spawn(platform, "event-store worker", ["event_store", "worker"], env, tmp)
            _spawn(platform, "event-store api", ["event_store", "api"], env, tmp)
            _spawn(platform, "gateway", ["ocpp_events", "serve"], env, tmp)
            wait_until_healthy(_health_urls(platform), platform)
            _wait_for_queues(_queue_names(env))
            wait_until_authorized(platform)
            yield platform
        finally:
            _stop(platform)


@contextlib.contextmanager
def procfile_platform(tmp: Path, env: dict[str, str], name: str = "honcho") -> Iterator[Platform]:
    """`make run-services` on the `env` of `services_resources`: migrate, then honcho with the
    repository's Procfile (each role a process, honcho's $PORT from a free base port)."""
    _migrate(env)
    env = {**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"}
    platform = _platform("services", env)
    platform.log_dir = tmp
    log = tmp / f"{name}.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "honcho", "start", "--no-colour", "-f", str(PROCFILE),
             "-p", str(honcho_base_port(_procfile_roles()))], env=env, cwd=tmp, stdout=handle,
            stderr=subprocess.STDOUT)
    platform.processes.append((name, process, log))
    try:
        wait_until_healthy(_health_urls(platform), platform)
        _wait_for_queues(_queue_names(env))
        wait_until_authorized(platform)
        yield platform
    finally:
        _stop(platform)


def _procfile_roles() -> int:
    return sum(1 for line in PROCFILE.read_text().splitlines() if ":" in line)


def start_extra_gateway(platform: Platform, name: str = "gateway 2") -> str:
    """Services mode: one more `python -m ocpp_events serve` on ports of its own (same broker);
    returns its ws:// base URL. Stopped with the platform."""
    assert platform.mode == "services" and platform.log_dir
    env = {**platform.env, "GATEWAY_PORT": str(free_port()),
           "GATEWAY_HTTP_PORT": str(free_port())}
    _spawn(platform, name, ["ocpp_events", "serve"], env, platform.log_dir)
    wait_until_healthy([f"http://127.0.0.1:{env['GATEWAY_HTTP_PORT']}/ready"], platform)
    return f"ws://127.0.0.1:{env['GATEWAY_PORT']}"


def _delete_exchange(name: str) -> None:
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    try:
        connection.channel().exchange_delete(name)
    finally:
        connection.close()


def _migrate(env: dict[str, str]) -> None:
    migrate = subprocess.run([sys.executable, "-m", "save_server", "migrate"], env=env,
                             capture_output=True, text=True, timeout=120)
    if migrate.returncode != 0:
        raise RuntimeError(f"migrate failed:\n{migrate.stdout}\n{migrate.stderr}")


def _start_save_server(platform: Platform) -> None:
    _migrate(platform.env)
    for role in ("worker", "api"):
        _spawn(platform, f"save-server {role}", ["save_server", role], platform.env,
               platform.log_dir)


def restart_save_server_on_empty_database(platform: Platform) -> None:
    """Stop save-server's roles, drop and recreate its database, migrate, start them again."""
    assert platform.mode == "services" and platform.database
    for name, process, _ in platform.processes:
        if name.startswith("save-server") and process.poll() is None:
            process.terminate()
            process.wait(timeout=15)
    platform.processes = [p for p in platform.processes if not p[0].startswith("save-server")]
    _drop_database(platform.database)
    _create_database(platform.database)
    _start_save_server(platform)
    wait_until_healthy([f"{platform.save_server_url}/health"], platform)


def _wait_for_queues(queues: list[str], timeout: float = 30) -> None:
    """The workers declare their queues; events published before that would be unroutable."""
    import pika

    deadline = time.monotonic() + timeout * TIME_FACTOR
    missing = list(queues)
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    try:
        while missing and time.monotonic() < deadline:
            channel = connection.channel()
            try:
                channel.queue_declare(missing[0], passive=True)
                missing.pop(0)
            except pika.exceptions.ChannelClosedByBroker:
                time.sleep(0.2)
    finally:
        connection.close()
    if missing:
        raise RuntimeError(f"queues never declared: {missing}")


def _delete_broker_objects(exchange: str, queues: list[str]) -> None:
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    try:
        channel = connection.channel()
        # .registry-*: save-server's queues of the gateways' snapshot requests and admissions
        for queue in queues + [f"{q}.{suffix}" for q in queues for suffix in
                               ("dead-letter", "registry-requests", "registry-admissions",
                                "local-lists", "load-management", "id-tag-events",
                                "id-tag-requests", "registry-requests.dead-letter",
                                "registry-admissions.dead-letter", "local-lists.dead-letter",
                                "load-management.dead-letter", "id-tag-events.dead-letter",
                                "id-tag-requests.dead-letter")]:
            channel.queue_delete(queue)
        for name in (exchange, f"{exchange}.dead-letter", f"{exchange}.registry",
                     f"{exchange}.registry.dead-letter"):
            channel.exchange_delete(name)  # .registry: the gateways' station registry feed
    finally:
        connection.close()


def _admin_connection():
    import psycopg2

    connection = psycopg2.connect(PG_ADMIN_DSN)
    connection.autocommit = True
    return connection


def _create_database(name: str) -> None:
    with contextlib.closing(_admin_connection()) as connection, connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')


def _drop_database(name: str) -> None:
    with contextlib.closing(_admin_connection()) as connection, connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
