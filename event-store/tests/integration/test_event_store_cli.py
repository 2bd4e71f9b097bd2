"""`python -m event_store api|worker` as real processes (services mode)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pika
import pytest

from event_store.domain.events import parse_event
from event_store.domain.queries import EventQuery
from event_store.infrastructure.sqlite_storage import SqliteEventStorage
from tests.support.ports import free_port


def start(role: str, **env: str) -> subprocess.Popen:
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("AMQP_URL", "MONGO_URL", "EVENT_STORE_RETENTION_DAYS")}
    return subprocess.Popen([sys.executable, "-m", "event_store", role],
                            env={**environment, **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)


def terminate(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


def wait_until(check, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception:
            pass
        time.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout}s")


def public_key_file(tmp_path) -> str:
    """A public key as save-server's (only its format matters to these tests)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = tmp_path / "auth-public-key.pem"
    path.write_bytes(Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return str(path)


def test_api_process_serves_events_and_stops_on_sigterm(tmp_path, account_events):
    port = free_port()
    bodies, key = account_events("admin")  # stored before: the API knows the key at start
    storage = SqliteEventStorage(tmp_path / "api.sqlite3")
    storage.save_many([parse_event(body) for body in bodies])
    storage.close()
    process = start("api", EVENT_STORE_PORT=str(port), EVENT_STORE_HOST="127.0.0.1",
                    EVENT_STORE_SQLITE_PATH=str(tmp_path / "api.sqlite3"),
                    AUTH_PUBLIC_KEYS_FILE=public_key_file(tmp_path))
    try:
        base = f"http://127.0.0.1:{port}"
        auth = {"Authorization": f"Bearer {key}"}
        wait_until(lambda: httpx.get(f"{base}/health").status_code == 200)
        assert httpx.get(f"{base}/events").status_code == 401
        heartbeats = {"type": "ocpp-events.heart-beat"}
        assert httpx.get(f"{base}/events", params=heartbeats, headers=auth).json() == []
        assert httpx.get(f"{base}/events", params={"limit": 0}, headers=auth
                         ).status_code == 422
        assert httpx.post(f"{base}/replays", json={"target": "all"}, headers=auth
                          ).status_code == 503
    finally:
        assert terminate(process) == 0
    assert (tmp_path / "api.sqlite3").exists()


def test_api_without_the_public_key_file_refuses_to_start_and_says_which(tmp_path):
    process = start("api", EVENT_STORE_PORT=str(free_port()), EVENT_STORE_HOST="127.0.0.1",
                    EVENT_STORE_SQLITE_PATH=str(tmp_path / "api.sqlite3"))
    output, _ = process.communicate(timeout=20)
    assert process.returncode != 0 and b"AUTH_PUBLIC_KEYS_FILE" in output


def test_worker_without_amqp_url_exits_with_a_clear_message(tmp_path):
    process = start("worker", EVENT_STORE_SQLITE_PATH=str(tmp_path / "w.sqlite3"))
    output, _ = process.communicate(timeout=20)
    assert process.returncode != 0
    assert b"AMQP_URL" in output


@pytest.mark.integration
def test_worker_process_consumes_rabbitmq_into_sqlite(tmp_path, rabbitmq, envelope):
    path = tmp_path / "worker.sqlite3"
    process = start("worker", AMQP_URL=rabbitmq["url"], AMQP_EXCHANGE=rabbitmq["exchange"],
                    EVENT_STORE_QUEUE=rabbitmq["queue"], EVENT_STORE_SQLITE_PATH=str(path))
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq["url"]))
    try:
        wait_until(lambda: connection.channel().queue_declare(rabbitmq["queue"], passive=True))
        channel = connection.channel()
        bodies = [envelope() for _ in range(5)]
        for body in bodies:
            channel.basic_publish(rabbitmq["exchange"], "ocpp-events.heart-beat", body)
        storage = SqliteEventStorage(path)
        try:
            wait_until(lambda: len(storage.find(EventQuery())) == 5)
        finally:
            storage.close()
    finally:
        connection.close()
        assert terminate(process) == 0
