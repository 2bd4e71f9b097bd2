"""/ready of the API and /health, /ready of the worker and the scheduler, against the real
PostgreSQL and RabbitMQ (and a closed port standing for each one that is down)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from save_server.bootstrap import bootstrap
from save_server.config import Settings
from tests.support.ports import free_port

from .conftest import RabbitNames


def closed_amqp_url() -> str:
    return f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F"


def ready(settings: Settings) -> httpx.Response:
    container = bootstrap(settings)
    try:
        return TestClient(container.app()).get("/ready")
    finally:
        container.close()


def test_api_ready_when_database_and_broker_answer(postgres_url: str,
                                                   rabbit: RabbitNames) -> None:
    response = ready(Settings(database_url=postgres_url, amqp_url=rabbit.url))
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": True, "broker": True}}


def test_api_not_ready_names_the_broker_when_amqp_is_down(postgres_url: str) -> None:
    response = ready(Settings(database_url=postgres_url, amqp_url=closed_amqp_url()))
    assert response.status_code == 503
    assert response.json()["not_ready"] == ["broker"]


def test_api_not_ready_names_the_database_when_it_is_down(rabbit: RabbitNames) -> None:
    down = f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/nowhere"
    response = ready(Settings(database_url=down, amqp_url=rabbit.url))
    assert response.status_code == 503
    assert response.json()["not_ready"] == ["database"]


def wait_for(url: str, status: int, timeout: float = 20) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = httpx.get(url, timeout=5)
            if response.status_code == status or time.monotonic() > deadline:
                return response
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.1)


def test_worker_health_and_ready_follow_its_broker_stream(postgres_url: str,
                                                          rabbit: RabbitNames) -> None:
    settings = Settings(database_url=postgres_url, amqp_url=rabbit.url,
                        amqp_exchange=rabbit.exchange, save_server_queue=rabbit.queue)
    container = bootstrap(settings)
    worker = container.worker(container.rabbit_stream)
    port, stop = free_port(), threading.Event()
    server = container.start_worker_probes(worker, port)
    base = f"http://127.0.0.1:{port}"
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    try:
        thread.start()
        assert wait_for(f"{base}/ready", 200).json()["checks"] == {"broker": True,
                                                                   "database": True}
        assert httpx.get(f"{base}/health").json() == {"status": "ok"}
        assert "save_server_event_consume_seconds" in httpx.get(f"{base}/metrics").text
        assert httpx.get(f"{base}/").status_code == 404
        stop.set()
        thread.join(10)
        response = httpx.get(f"{base}/ready")
        assert (response.status_code, response.json()["not_ready"]) == (503, ["broker"])
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        container.close()


@pytest.fixture
def process_env(postgres_url: str, rabbit: RabbitNames, tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": postgres_url, "AMQP_URL": rabbit.url,
            "AMQP_EXCHANGE": rabbit.exchange, "SAVE_SERVER_QUEUE": rabbit.queue,
            "DATA_DIR": str(tmp_path), "SAVE_SERVER_HOST": "127.0.0.1", "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(free_port()), "REPORT_SCHEDULER_INTERVAL": "3600"}


@pytest.fixture
def spawn() -> Iterator[object]:
    started: list[subprocess.Popen] = []

    def start(role: str, env: dict[str, str]) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-m", "save_server", role], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        started.append(process)
        return process

    yield start
    for process in started:
        process.terminate()
        process.wait(15)


@pytest.mark.parametrize("role,variable", [
    ("worker", "SAVE_SERVER_WORKER_METRICS_PORT"),
    ("scheduler", "SAVE_SERVER_SCHEDULER_METRICS_PORT"),
])
def test_role_process_serves_health_ready_metrics_and_404(
        role: str, variable: str, process_env: dict[str, str], spawn) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    process = spawn(role, {**process_env, variable: str(port)})
    base = f"http://127.0.0.1:{port}"
    response = wait_for(f"{base}/ready", 200)
    assert response.status_code == 200, (response.text, process.poll())
    assert response.json()["status"] == "ready"
    assert httpx.get(f"{base}/health").json() == {"status": "ok"}
    assert httpx.get(f"{base}/metrics").headers["content-type"].startswith("text/plain")
    assert httpx.get(f"{base}/nope").status_code == 404


def test_worker_process_not_ready_while_its_broker_is_down(process_env: dict[str, str],
                                                           spawn) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    spawn("worker", {**process_env, "AMQP_URL": closed_amqp_url(),
                     "SAVE_SERVER_WORKER_METRICS_PORT": str(port)})
    base = f"http://127.0.0.1:{port}"
    assert wait_for(f"{base}/health", 200).status_code == 200  # alive: retrying the broker
    response = httpx.get(f"{base}/ready")
    assert (response.status_code, response.json()["not_ready"]) == (503, ["broker"])


def test_worker_health_fails_when_its_loop_stops_ticking(tmp_path: Path) -> None:
    """/health is 503 once the consume loop has not ticked for LIVENESS_SECONDS (a hung
    worker is restarted by its liveness probe)."""
    from save_server.bootstrap import LIVENESS_SECONDS
    from save_server.infrastructure.messaging.worker import EventWorker
    from save_server.infrastructure.probes import Heartbeat

    now = [1000.0]
    container = bootstrap(Settings(data_dir=tmp_path))
    worker = EventWorker(lambda: None, container.uow_factory,  # type: ignore[arg-type, return-value]
                         heartbeat=Heartbeat(lambda: now[0]))
    port = free_port()
    server = container.start_worker_probes(worker, port)
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200
        now[0] += LIVENESS_SECONDS + 1
        stalled = httpx.get(f"http://127.0.0.1:{port}/health")
        assert (stalled.status_code, stalled.json()) == (503, {"status": "stalled"})
    finally:
        server.shutdown()
        server.server_close()
        container.close()
