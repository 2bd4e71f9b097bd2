"""/ready of the API (storage and broker) and /health, /ready, /metrics of the worker process,
against the real RabbitMQ (and a closed port standing for a broker that is down)."""

from __future__ import annotations

import httpx
from fastapi.testclient import TestClient

from event_store.bootstrap import amqp_ready, build_app
from event_store.config import Settings
from event_store.infrastructure.probes import CachedCheck

from .test_event_store_cli import free_port, start, terminate, wait_until


def closed_amqp_url() -> str:
    return f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F"


def ready(storage, amqp_url: str) -> httpx.Response:
    app = build_app(storage, None, amqp_ready(Settings(amqp_url=amqp_url)))
    return TestClient(app).get("/ready")


def test_api_ready_when_storage_and_broker_answer(sqlite_storage, rabbitmq):
    response = ready(sqlite_storage, rabbitmq["url"])
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": True, "broker": True}}


def test_api_not_ready_names_the_broker_when_amqp_is_down(sqlite_storage):
    response = ready(sqlite_storage, closed_amqp_url())
    assert response.status_code == 503
    assert response.json()["not_ready"] == ["broker"]


def test_api_not_ready_names_the_database_when_storage_is_down(sqlite_storage, rabbitmq):
    sqlite_storage.close()
    response = ready(sqlite_storage, rabbitmq["url"])
    assert response.status_code == 503
    assert response.json()["not_ready"] == ["database"]


def test_the_broker_check_opens_one_connection_per_cache_period():
    opened = []
    check = CachedCheck(lambda: opened.append(1) or True, ttl=60)
    assert all(check() for _ in range(50))
    assert opened == [1]


def test_worker_process_serves_health_ready_metrics_and_404(tmp_path, rabbitmq):
    port = free_port()
    process = start("worker", AMQP_URL=rabbitmq["url"], AMQP_EXCHANGE=rabbitmq["exchange"],
                    EVENT_STORE_QUEUE=rabbitmq["queue"], EVENT_STORE_HOST="127.0.0.1",
                    EVENT_STORE_SQLITE_PATH=str(tmp_path / "w.sqlite3"),
                    EVENT_STORE_WORKER_METRICS_PORT=str(port))
    base = f"http://127.0.0.1:{port}"
    try:
        response = wait_until(lambda: (r := httpx.get(f"{base}/ready")).status_code == 200 and r)
        assert response.json() == {"status": "ready",
                                   "checks": {"broker": True, "database": True}}
        assert httpx.get(f"{base}/health").json() == {"status": "ok"}
        assert "event_store_events_stored_total" in httpx.get(f"{base}/metrics").text
        assert httpx.get(f"{base}/other").status_code == 404
    finally:
        assert terminate(process) == 0


def test_worker_process_is_live_but_not_ready_while_the_broker_is_down(tmp_path):
    port = free_port()
    process = start("worker", AMQP_URL=closed_amqp_url(), EVENT_STORE_HOST="127.0.0.1",
                    EVENT_STORE_SQLITE_PATH=str(tmp_path / "w.sqlite3"),
                    EVENT_STORE_WORKER_METRICS_PORT=str(port))
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_until(lambda: httpx.get(f"{base}/health").status_code == 200)
        response = httpx.get(f"{base}/ready")
        assert (response.status_code, response.json()["not_ready"]) == (503, ["broker"])
    finally:
        assert terminate(process) == 0


def test_worker_health_fails_when_its_fetch_loop_stops_ticking(sqlite_storage):
    from event_store.bootstrap import LIVENESS_SECONDS, start_worker_probes
    from event_store.infrastructure.probes import Heartbeat
    from event_store.infrastructure.worker import WorkerProbe

    now = [500.0]
    probe = WorkerProbe()
    probe.heartbeat = Heartbeat(lambda: now[0])
    port = free_port()
    server = start_worker_probes(Settings(event_store_host="127.0.0.1"), sqlite_storage, probe,
                                 port)
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/ready").json()["not_ready"] == ["broker"]
        now[0] += LIVENESS_SECONDS + 1
        assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 503
    finally:
        server.shutdown()
        server.server_close()
