"""docker-compose.yml's services, started as local processes, run the platform end to end.

No Docker engine runs here, so this test runs every role's `command` exactly as written in
docker-compose.yml, with the `environment` compose would give it (interpolated from .env.example
plus the test's own values), against the machine's RabbitMQ and PostgreSQL. Only what a
container would isolate is adapted: the hostnames `rabbitmq` / `postgres` become 127.0.0.1, the
ports become free ones, each named volume becomes a folder, and MONGO_URL is dropped (no MongoDB
here, so the event-store uses SQLite, as docs/architecture.md specifies). A charger then talks
OCPP 1.6 to the gateway and both APIs must show what it did.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import trustme
import websockets

from save_server.infrastructure.messaging.rabbitmq import shard_queues
from tests.deploy.contract import (
    ENV_EXAMPLE,
    command_of,
    documented_variables,
    interpolate,
    load_compose,
    read_env_file,
)
from tests.e2e.platform import ADMIN_KEY, api_headers, signing_key_files
from tests.support.ports import free_port as _free_port

pytestmark = pytest.mark.e2e

AMQP_ADMIN_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
PG_ADMIN_DSN = os.environ.get("TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
TIME_FACTOR = float(os.environ.get("TEST_TIME_FACTOR", "1"))
INFRASTRUCTURE = {"rabbitmq", "postgres", "mongo"}
PORT_VARIABLES = ("GATEWAY_PORT", "GATEWAY_HTTP_PORT", "SAVE_SERVER_PORT", "EVENT_STORE_PORT",
                  "SAVE_SERVER_WORKER_METRICS_PORT", "EVENT_STORE_WORKER_METRICS_PORT",
                  "SAVE_SERVER_SCHEDULER_METRICS_PORT")
HOST_VARIABLES = ("GATEWAY_HOST", "SAVE_SERVER_HOST", "EVENT_STORE_HOST")


@dataclass
class RunningRole:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    health_url: str | None


@dataclass
class ComposeOnHost:
    ports: dict[str, int]
    queues: dict[str, str]
    roles: list[RunningRole] = field(default_factory=list)
    exchange: str = ""
    gateway_ca: Any = None  # trustme.CA of the gateway's certificate

    def charger_tls(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.gateway_ca.configure_trust(context)
        return context

    def url(self, variable: str, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.ports[variable]}"

    def logs(self) -> str:
        return "\n".join(f"----- {role.name} -----\n{role.log.read_text(errors='replace')[-3000:]}"
                         for role in self.roles)


def _require(name: str, port: int) -> None:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        message = f"{name} is not reachable at 127.0.0.1:{port}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message} (CI=true: a missing server is a failure)")
        pytest.skip(message)




def _to_localhost(value: str) -> str:
    """amqp://u:p@rabbitmq:5672/ → amqp://u:p@127.0.0.1:5672/ (what a hosts entry would do)."""
    if "://" not in value:
        return value
    url = urlsplit(value)
    if url.hostname not in INFRASTRUCTURE:
        return value
    return urlunsplit(url._replace(netloc=url.netloc.replace(f"@{url.hostname}:", "@127.0.0.1:")))


SECRETS_MOUNT = "/run/secrets/"


def _role_environment(service: dict[str, Any], variables: dict[str, str],
                      ports: dict[str, int], volumes: Path) -> dict[str, str]:
    environment = {name: _to_localhost(interpolate(str(value), variables))
                   for name, value in service["environment"].items()}
    environment.pop("MONGO_URL", None)
    for name in PORT_VARIABLES + HOST_VARIABLES:
        if name in environment:
            environment[name] = "127.0.0.1" if name.endswith("_HOST") else str(ports[name])
    for mount in service.get("volumes", []):
        volume, _, target = mount.partition(":")
        if environment.get("DATA_DIR") == target.split(":")[0]:
            environment["DATA_DIR"] = str(volumes / volume)
            (volumes / volume).mkdir(parents=True, exist_ok=True)
    assert not environment.get("DATA_DIR", "").startswith("/data"), "DATA_DIR not on a volume"
    for name, value in environment.items():  # compose secrets: the files the test made
        if value.startswith(SECRETS_MOUNT):
            secret = value[len(SECRETS_MOUNT):]
            assert secret in service.get("secrets", []), f"{name}: secret {secret} not mounted"
            environment[name] = str(volumes / "secrets" / f"{secret}.pem")
    documented = set(documented_variables())
    inherited = {k: v for k, v in os.environ.items() if k not in documented}
    return inherited | environment | {"PYTHONUNBUFFERED": "1"}


def _local_command(service: dict[str, Any]) -> list[str]:
    command = list(command_of(service))
    assert command[0] == "python", command
    return [sys.executable, *command[1:]]


def _health_url(service: dict[str, Any], ports: dict[str, int]) -> str | None:
    """The compose health check's URL, on the free port that replaced the role's own port."""
    check = service.get("healthcheck", {})
    if check.get("disable"):
        return None
    match = re.search(r"http://127\.0\.0\.1:(\d+)(/\S*?)'", " ".join(check["test"]))
    assert match, check
    (variable,) = [name for name in PORT_VARIABLES
                   if str(service["environment"].get(name)) == match.group(1)]
    return f"http://127.0.0.1:{ports[variable]}{match.group(2)}"


def _one_shot(services: dict[str, dict[str, Any]]) -> set[str]:
    return {dependency for service in services.values()
            for dependency, rule in (service.get("depends_on") or {}).items()
            if isinstance(rule, dict) and rule.get("condition") == "service_completed_successfully"}


def _wait_healthy(platform: ComposeOnHost, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout * TIME_FACTOR
    pending = [role for role in platform.roles if role.health_url]
    while pending:
        for role in platform.roles:
            if role.process.poll() is not None:
                pytest.fail(f"{role.name} exited with {role.process.returncode}\n{platform.logs()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(pending[0].health_url or "", timeout=2).status_code == 200:
                pending.pop(0)
                continue
        if time.monotonic() > deadline:
            pytest.fail(f"{pending[0].name} not healthy at {pending[0].health_url}\n"
                        f"{platform.logs()}")
        time.sleep(0.2)


def _wait_for_queues(queues: list[str], timeout: float = 30) -> None:
    """The workers declare their queues; an event published before that would be unroutable."""
    import pika

    deadline = time.monotonic() + timeout * TIME_FACTOR
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_ADMIN_URL))
    try:
        for queue in queues:
            while True:
                try:
                    connection.channel().queue_declare(queue, passive=True)
                    break
                except pika.exceptions.ChannelClosedByBroker:
                    if time.monotonic() > deadline:
                        pytest.fail(f"queue {queue} was never declared")
                    time.sleep(0.2)
    finally:
        connection.close()


def _consumed_queues(queues: dict[str, str], shards: int) -> list[str]:
    """The queues the workers consume: save-server's N shard queues when it is sharded."""
    found = []
    for variable, queue in queues.items():
        found += shard_queues(queue, shards) if variable == "SAVE_SERVER_QUEUE" else [queue]
    return found


def _delete_broker_objects(exchange: str, queues: dict[str, str], shards: int) -> None:
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(AMQP_ADMIN_URL))
    try:
        channel = connection.channel()
        names = list(queues.values())
        for queue in _consumed_queues(queues, shards) + [
                f"{q}.{suffix}" for q in names
                for suffix in ("dead-letter", "registry-requests", "registry-admissions",
                               "local-lists", "registry-requests.dead-letter",
                               "registry-admissions.dead-letter", "local-lists.dead-letter",
                               "load-management.dead-letter", "id-tag-events.dead-letter",
                               "id-tag-requests.dead-letter")]:
            channel.queue_delete(queue)
        for name in (exchange, f"{exchange}.dead-letter", f"{exchange}.registry",
                     f"{exchange}.registry.dead-letter", queues["SAVE_SERVER_QUEUE"]):
            channel.exchange_delete(name)  # .registry: the gateway's station registry feed;
            # the last: save-server's consistent-hash exchange
    finally:
        connection.close()


def _postgres(statement: str) -> None:
    import psycopg2

    with contextlib.closing(psycopg2.connect(PG_ADMIN_DSN)) as connection:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(statement)


def _stop(roles: list[RunningRole]) -> None:
    for role in reversed(roles):
        if role.process.poll() is None:
            role.process.terminate()
    for role in roles:
        try:
            role.process.wait(timeout=15 * TIME_FACTOR)
        except subprocess.TimeoutExpired:
            role.process.kill()
            role.process.wait()


@pytest.fixture(scope="module")
def compose_on_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeOnHost]:
    _require("RabbitMQ", 5672)
    _require("PostgreSQL", 5432)
    tmp = tmp_path_factory.mktemp("compose")
    suffix = uuid.uuid4().hex[:10]
    database, exchange = f"deploy_{suffix}", f"deploy-{suffix}"
    queues = {"SAVE_SERVER_QUEUE": f"deploy-save-server-{suffix}",
              "EVENT_STORE_QUEUE": f"deploy-event-store-{suffix}"}
    variables = read_env_file(ENV_EXAMPLE) | queues | {
        "RABBITMQ_USER": "guest", "RABBITMQ_PASSWORD": "guest",
        "POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": "unused-with-trust-auth",
        "POSTGRES_DB": database, "AMQP_EXCHANGE": exchange,
        "CSMS_ADMIN_API_KEY": ADMIN_KEY,
    }
    keys = signing_key_files(tmp)
    (tmp / "volumes" / "secrets").mkdir(parents=True)
    Path(keys["AUTH_SIGNING_KEY_FILE"]).rename(tmp / "volumes/secrets/auth-signing-key.pem")
    Path(keys["AUTH_PUBLIC_KEYS_FILE"]).rename(tmp / "volumes/secrets/auth-public-key.pem")
    gateway_ca = trustme.CA()  # the chargers' wss:// certificate, made for this run
    served = gateway_ca.issue_cert("127.0.0.1", "localhost")
    served.private_key_pem.write_to_path(str(tmp / "volumes/secrets/gateway-tls-key.pem"))
    served.cert_chain_pems[0].write_to_path(str(tmp / "volumes/secrets/gateway-tls-cert.pem"))
    platform = ComposeOnHost(ports={name: _free_port() for name in PORT_VARIABLES}, queues=queues,
                             exchange=exchange, gateway_ca=gateway_ca)
    services = {name: service for name, service in load_compose()["services"].items()
                if name not in INFRASTRUCTURE}
    environments = {name: _role_environment(service, variables, platform.ports, tmp / "volumes")
                    for name, service in services.items()}
    for name, environment in environments.items():  # the test's names reached every role
        assert environment["AMQP_EXCHANGE"] == exchange, name
        for variable, queue in queues.items():
            assert environment.get(variable, queue) == queue, name
        if "DATABASE_URL" in environment:
            assert environment["DATABASE_URL"].endswith(f"@127.0.0.1:5432/{database}"), name
    shards = int(environments["save-server-worker"].get("SAVE_SERVER_SHARDS", "0"))
    _postgres(f'CREATE DATABASE "{database}"')
    try:
        for name in sorted(_one_shot(services)):
            done = subprocess.run(_local_command(services[name]), env=environments[name],
                                  capture_output=True, text=True, timeout=120 * TIME_FACTOR)
            assert done.returncode == 0, f"{name} failed:\n{done.stdout}\n{done.stderr}"
        for name, service in services.items():
            if name in _one_shot(services):
                continue
            log = tmp / f"{name}.log"
            with log.open("wb") as handle:
                process = subprocess.Popen(_local_command(service), env=environments[name],
                                           stdout=handle, stderr=subprocess.STDOUT)
            platform.roles.append(RunningRole(name, process, log,
                                              _health_url(service, platform.ports)))
        _wait_healthy(platform)
        _wait_for_queues(_consumed_queues(queues, shards))
        yield platform
    finally:
        _stop(platform.roles)
        with contextlib.suppress(Exception):
            _delete_broker_objects(exchange, queues, shards)
        _postgres(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


async def _call(connection: Any, message_id: str, action: str, payload: dict) -> list:
    await connection.send(json.dumps([2, message_id, action, payload]))
    while True:
        frame = json.loads(await asyncio.wait_for(connection.recv(), 15 * TIME_FACTOR))
        if frame[0] in (3, 4) and frame[1] == message_id:
            return frame


async def _poll(url: str, check: Any, params: dict[str, str] | None = None,
                timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout * TIME_FACTOR
    last: Any = None
    async with httpx.AsyncClient(timeout=5, headers=api_headers()) as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                response = await client.get(url, params=params)
                last = (response.status_code, response.text[:2000])
                if response.status_code == 200 and check(response.json()):
                    return response.json()
            await asyncio.sleep(0.25)
    raise AssertionError(f"{url} never satisfied the check; last answer: {last!r}")


async def _register_station(platform: ComposeOnHost, station_id: str) -> str:
    """An operator registers the station through save-server with the production default,
    security profile 2 (TLS + Basic Auth); returns the password shown once."""
    async with httpx.AsyncClient(timeout=10, headers=api_headers()) as client:
        response = await client.post(f"{platform.url('SAVE_SERVER_PORT')}/charging-stations",
                                     json={"charging_station_id": station_id,
                                           "security_profile": 2})
    assert response.status_code == 201, response.text
    return str(response.json()["password"])


async def _connect_when_admitted(url: str, tls: ssl.SSLContext) -> Any:
    deadline = time.monotonic() + 5 * TIME_FACTOR  # a registry change reaches it within 5 s
    while True:
        try:
            return await websockets.connect(url, subprotocols=["ocpp1.6"], ssl=tls,
                                            open_timeout=10 * TIME_FACTOR)
        except websockets.InvalidStatus as refused:
            assert refused.response.status_code == 404, refused
            assert time.monotonic() < deadline, "the registered station was never admitted"
            await asyncio.sleep(0.1)


async def test_a_charger_through_the_compose_services_reaches_both_apis(
        compose_on_host: ComposeOnHost) -> None:
    """Compose serves wss:// and refuses unknown stations; registered through save-server's API
    with security profile 2, the charger proves its password over TLS, gets in, and its events
    reach both APIs."""
    station_id = f"CP-DEPLOY-{uuid.uuid4().hex[:8]}"
    tls = compose_on_host.charger_tls()
    gateway = compose_on_host.url("GATEWAY_PORT", "wss")
    with pytest.raises(websockets.InvalidStatus) as unknown:
        async with websockets.connect(f"{gateway}/ocpp/{station_id}", subprotocols=["ocpp1.6"],
                                      ssl=tls):
            pass
    assert unknown.value.response.status_code == 404
    password = await _register_station(compose_on_host, station_id)
    admitted = gateway.replace("wss://", f"wss://{station_id}:{password}@")
    async with await _connect_when_admitted(f"{admitted}/ocpp/{station_id}", tls) as charger:
        assert charger.subprotocol == "ocpp1.6"
        boot = await _call(charger, "boot-1", "BootNotification",
                           {"chargePointVendor": "Deploy", "chargePointModel": "Compose-1"})
        assert boot[0] == 3 and boot[2]["status"] == "Accepted", boot
        status = await _call(charger, "status-1", "StatusNotification",
                             {"connectorId": 1, "errorCode": "NoError", "status": "Available"})
        assert status == [3, "status-1", {}]

    def station_seen(stations: list[dict]) -> bool:
        station = next((s for s in stations if s.get("id") == station_id), None)
        return station is not None and station.get("status") == "disconnected" and any(
            c.get("connector_id") == 1 and str(c.get("status")).lower() == "available"
            for c in station.get("connectors", []))

    await _poll(f"{compose_on_host.url('SAVE_SERVER_PORT')}/charging-stations", station_seen)

    expected = {"ocpp-events.boot-notification", "ocpp-events.status-notification",
                "ocpp-events.disconnect"}
    events = await _poll(f"{compose_on_host.url('EVENT_STORE_PORT')}/events",
                         lambda found: expected <= {e.get("type") for e in found},
                         params={"charging_station_id": station_id})
    assert {event["charging_station_id"] for event in events} == {station_id}
    assert len({event["event_id"] for event in events}) == len(events)


def _counter(metrics_text: str, name: str) -> float:
    """Sum of a Prometheus counter's samples (all label sets) in an exposition text."""
    pattern = re.compile(rf"^{name}(?:{{[^}}]*}})? (\S+)$", re.MULTILINE)
    return sum(float(value) for value in pattern.findall(metrics_text))


def test_each_worker_serves_its_own_counters_on_its_metrics_port(
        compose_on_host: ComposeOnHost) -> None:
    """Runs after the charger test: the events it caused are counted in the workers' processes,
    on the ports compose gives them (and probes as their health check)."""
    counters = {"SAVE_SERVER_WORKER_METRICS_PORT": "save_server_events_processed_total",
                "EVENT_STORE_WORKER_METRICS_PORT": "event_store_events_stored_total"}
    for variable, counter in counters.items():
        url = f"{compose_on_host.url(variable)}/metrics"
        deadline = time.monotonic() + 15 * TIME_FACTOR
        while True:
            text = httpx.get(url, timeout=5).text
            if _counter(text, counter) >= 3 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert _counter(text, counter) >= 3, f"{counter} on {url}:\n{text[:2000]}"


def test_workers_and_scheduler_answer_health_ready_metrics_and_404(
        compose_on_host: ComposeOnHost) -> None:
    """The probe servers on the ports compose gives them: ready means broker and database
    reached (the scheduler: database), anything but the three paths is 404."""
    expected = {"SAVE_SERVER_WORKER_METRICS_PORT": {"broker": True, "database": True},
                "EVENT_STORE_WORKER_METRICS_PORT": {"broker": True, "database": True},
                "SAVE_SERVER_SCHEDULER_METRICS_PORT": {"database": True}}
    for variable, checks in expected.items():
        base = compose_on_host.url(variable)
        assert httpx.get(f"{base}/health", timeout=5).json() == {"status": "ok"}, variable
        ready = httpx.get(f"{base}/ready", timeout=5)
        assert (ready.status_code, ready.json()["checks"]) == (200, checks), variable
        assert httpx.get(f"{base}/metrics", timeout=5).status_code == 200, variable
        assert httpx.get(f"{base}/nothing", timeout=5).status_code == 404, variable


def test_every_role_is_still_running_and_logs_only_json(compose_on_host: ComposeOnHost) -> None:
    """Compose sets LOG_FORMAT=json: every line a role writes must be one JSON object."""
    for role in compose_on_host.roles:
        assert role.process.poll() is None, f"{role.name} exited\n{compose_on_host.logs()}"
        for line in role.log.read_text(errors="replace").splitlines():
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                entry = None
            assert isinstance(entry, dict), f"{role.name} wrote a non-JSON log line: {line!r}"
