"""Observability of every service process (issue 8): with LOG_FORMAT=json every log line is
JSON and the lines about a station carry `charging_station_id` (and `connection_id` /
`event_id` where they apply); `/metrics` exposes the metrics the issue names; `/ready`
follows broker and database reachability.

Roles run as processes against the local RabbitMQ and PostgreSQL (one of each role; the
workers serve their own /metrics on SAVE_SERVER_WORKER_METRICS_PORT /
EVENT_STORE_WORKER_METRICS_PORT — their counters live in the worker process, not in the API).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pika
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.platform import AMQP_URL, api_headers, free_port, wait_until_healthy
from tests.scaleout import state
from tests.scaleout.cluster import Cluster, cluster
from tests.scaleout.sessions import StationScript, Traffic, drive

pytestmark = pytest.mark.e2e

CLOSED_PORT_AMQP = "amqp://guest:guest@127.0.0.1:{port}/%2F"


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, dict]]:
    """One process per role with JSON logs; two stations' sessions and two poison messages
    went through it. Yields the cluster and {"stations", "poison_event_id", "workers"}."""
    tmp = tmp_path_factory.mktemp("observability")
    worker_ports = {"SAVE_SERVER_WORKER_METRICS_PORT": str(free_port()),
                    "EVENT_STORE_WORKER_METRICS_PORT": str(free_port())}
    with cluster(tmp, gateways=1, save_workers=1, store_workers=1,
                 extra_env={"LOG_FORMAT": "json", **worker_ports}) as running:
        workers = {name: f"http://127.0.0.1:{port}" for name, port in worker_ports.items()}
        wait_until_healthy([f"{url}/metrics" for url in workers.values()], running.platform)
        suffix = running.suffix[:6]
        scripts = [StationScript(i, f"OBS-{suffix}-{i}") for i in range(2)]
        asyncio.run(drive(scripts, running.gateway_urls, Traffic()))
        poison_event_id = str(uuid.uuid4())
        _publish_poison(running, f"OBS-{suffix}-poison", poison_event_id)
        expected = {s.station_id for s in scripts}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = state.stations(running.save_server_url)
            if set(found) >= expected and all(found[s]["status"] == "disconnected"
                                               for s in expected):
                break
            time.sleep(0.3)
        httpx.get(f"{running.save_server_url}/charging-stations/{scripts[0].station_id}",
                  headers=api_headers())
        httpx.get(f"{running.event_store_url}/events", params={"limit": 5},
                  headers=api_headers())
        time.sleep(1.0)  # the poison messages reach both workers' dead-letter paths
        yield running, {"stations": [s.station_id for s in scripts],
                        "poison_station": f"OBS-{suffix}-poison",
                        "poison_event_id": poison_event_id, "workers": workers}


def _publish_poison(running: Cluster, station_id: str, event_id: str) -> None:
    """A body that is not JSON (both workers dead-letter it) and an envelope whose payload
    breaks the contract (save-server dead-letters it, the event-store keeps it)."""
    envelope = {"event_id": event_id, "type": "ocpp-events.start-transaction",
                "schema_version": 1, "charging_station_id": station_id,
                "ocpp_version": "1.6", "connection_id": str(uuid.uuid4()),
                "message_id": "1", "action": "StartTransaction",
                "received_at": "2026-11-25T12:00:00Z",
                "payload": {"connectorId": "one", "idTag": "T", "meterStart": 0,
                            "timestamp": "2026-11-25T12:00:00Z"},
                "response": {"transactionId": 1, "idTagInfo": {"status": "Accepted"}}}
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    try:
        channel = connection.channel()
        for body, message_id in ((b"not json", str(uuid.uuid4())),
                                 (json.dumps(envelope).encode(), event_id)):
            channel.basic_publish(running.env["AMQP_EXCHANGE"], "ocpp-events.start-transaction",
                                  body, pika.BasicProperties(
                                      message_id=message_id, delivery_mode=2,
                                      headers={"charging_station_id": station_id}))
    finally:
        connection.close()


def _log_lines(running: Cluster) -> dict[str, list[dict]]:
    parsed: dict[str, list[dict]] = {}
    for name, _, path in running.platform.processes:
        lines = []
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                pytest.fail(f"{name} line {number} is not JSON: {line[:300]!r}")
        parsed[name] = lines
    return parsed


def test_every_log_line_is_json_and_station_lines_carry_their_ids(observed) -> None:
    running, facts = observed
    logs = _log_lines(running)
    assert set(logs) == {"gateway 1", "save-server worker 1", "save-server api",
                         "event-store worker 1", "event-store api"}
    for name, lines in logs.items():
        assert lines, f"{name} wrote nothing"
        for line in lines:
            assert {"event", "level", "timestamp"} <= line.keys(), (name, line)
            text = json.dumps(line)
            for station_id in (*facts["stations"], facts["poison_station"]):
                if station_id in text and line.get("logger") != "uvicorn.access":
                    assert line.get("charging_station_id") == station_id, (name, line)
    gateway = [line for line in logs["gateway 1"] if line.get("charging_station_id")]
    assert {line["charging_station_id"] for line in gateway} >= set(facts["stations"])
    assert all(line.get("connection_id") for line in gateway), gateway[:3]
    dead_lettered = [line for line in logs["save-server worker 1"]
                     if line.get("event_id") == facts["poison_event_id"]]
    assert dead_lettered and dead_lettered[0]["level"] == "error", logs["save-server worker 1"]
    poison = [line for line in logs["event-store worker 1"]
              if line["event"] == "event_store.poison_message"]
    assert [line["charging_station_id"] for line in poison] == [facts["poison_station"]]


def _metrics(url: str) -> dict[str, list]:
    response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200
    return {family.name: family.samples
            for family in text_string_to_metric_families(response.text)}


def _total(families: dict[str, list], name: str, suffix: str = "", **labels: str) -> float:
    assert name in families, f"{name} missing; have {sorted(families)}"
    return sum(s.value for s in families[name] if s.name == name + suffix
               and all(s.labels.get(k) == v for k, v in labels.items()))


def test_metrics_named_in_the_issue_are_exposed_with_real_values(observed) -> None:
    running, facts = observed
    gateway = _metrics(running.gateway_http_urls[0])
    assert "ocpp_gateway_connected_stations" in gateway  # all stations have left by now
    assert _total(gateway, "ocpp_gateway_calls", "_total", action="StartTransaction",
                  result="accepted") == 4
    assert _total(gateway, "ocpp_gateway_publish_seconds", "_count") > 0

    save_worker = _metrics(facts["workers"]["SAVE_SERVER_WORKER_METRICS_PORT"])
    assert _total(save_worker, "save_server_events_processed", "_total",
                  type="ocpp-events.start-transaction") == 4
    assert "save_server_events_failed" in save_worker
    assert _total(save_worker, "save_server_events_dead_lettered", "_total") == 2
    assert _total(save_worker, "save_server_event_consume_seconds", "_count") > 0

    store_worker = _metrics(facts["workers"]["EVENT_STORE_WORKER_METRICS_PORT"])
    stored = len(state.events(running.event_store_url))
    assert _total(store_worker, "event_store_events_stored", "_total") == stored > 0
    assert _total(store_worker, "event_store_events_dead_lettered", "_total") == 1
    assert _total(store_worker, "event_store_batch_write_seconds", "_count") > 0

    for url, name, route in ((running.save_server_url, "save_server_http_request_seconds",
                              "/charging-stations/{station_id}"),
                             (running.event_store_url, "event_store_http_request_seconds",
                              "/events")):
        families = _metrics(url)
        routes = {s.labels.get("route") for s in families.get(name, [])}
        assert route in routes, (name, routes)


def _serving(running: Cluster, env: dict[str, str],
             *roles: tuple[str, list[str], str]) -> list[str]:
    """Start each (name, module and role, port variable) with `env`; their base URLs once
    their /health answers."""
    for name, argv, _port in roles:
        running.spawn(name, argv, env)
    urls = [f"http://127.0.0.1:{env[port]}" for _name, _argv, port in roles]
    wait_until_healthy([f"{url}/health" for url in urls], running.platform)
    return urls


def test_ready_reflects_broker_and_database_reachability(observed, tmp_path: Path) -> None:
    running, _ = observed
    for url in (running.save_server_url, running.event_store_url,
                running.gateway_http_urls[0]):
        assert httpx.get(f"{url}/ready", timeout=10).status_code == 200, url
    dead = free_port()  # nothing listens there
    broken = {**running.env, "SAVE_SERVER_PORT": str(free_port()),
              "EVENT_STORE_PORT": str(free_port()), "GATEWAY_PORT": str(free_port()),
              "GATEWAY_HTTP_PORT": str(free_port()),
              "AMQP_URL": CLOSED_PORT_AMQP.format(port=dead),
              "DATABASE_URL": f"postgresql+psycopg2://postgres@127.0.0.1:{dead}/nothing",
              "MONGO_URL": f"mongodb://127.0.0.1:{dead}/?serverSelectionTimeoutMS=500"}
    urls = _serving(running, broken,
                    ("save-server api (no database)", ["save_server", "api"], "SAVE_SERVER_PORT"),
                    ("gateway (no broker)", ["ocpp_events", "serve"], "GATEWAY_HTTP_PORT"))
    for url in urls:
        assert httpx.get(f"{url}/ready", timeout=15).status_code == 503, url
    assert set(httpx.get(f"{urls[0]}/ready", timeout=15).json()["not_ready"]) == {
        "database", "broker"}
    # only the broker down: both APIs name it (the event-store on its SQLite file)
    no_broker = {**running.env, "SAVE_SERVER_PORT": str(free_port()),
                 "EVENT_STORE_PORT": str(free_port()),
                 "AMQP_URL": CLOSED_PORT_AMQP.format(port=dead),
                 "EVENT_STORE_SQLITE_PATH": str(tmp_path / "no-broker.sqlite3")}
    no_broker.pop("MONGO_URL", None)
    urls = _serving(running, no_broker,
                    ("save-server api (no broker)", ["save_server", "api"], "SAVE_SERVER_PORT"),
                    ("event-store api (no broker)", ["event_store", "api"], "EVENT_STORE_PORT"))
    for url in urls:
        answer = httpx.get(f"{url}/ready", timeout=15)
        assert (answer.status_code, answer.json()["not_ready"]) == (503, ["broker"]), url
    # the event-store API needs its storage to start at all: it exits non-zero (a restart
    # policy / liveness probe retries it) instead of serving a /ready that can never pass
    store = subprocess.run([sys.executable, "-m", "event_store", "api"], env=broken,
                           capture_output=True, text=True, timeout=60)
    assert store.returncode != 0 and "ServerSelectionTimeoutError" in store.stdout + store.stderr
