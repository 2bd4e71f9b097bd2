"""Entry points: `python -m save_server migrate`, and the embedded service starting and
stopping."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, inspect

from csms_embedded.broker import InProcessBroker
from csms_embedded.lifecycle import run_together
from save_server.config import Settings
from save_server.entrypoints import EmbeddedSaveServer
from tests.support.ports import free_port


def test_migrate_command_creates_the_schema(tmp_path: Path) -> None:
    env = {**os.environ, "DATA_DIR": str(tmp_path), "LOG_FORMAT": "json"}
    env.pop("DATABASE_URL", None)
    for _ in range(2):  # idempotent
        result = subprocess.run([sys.executable, "-m", "save_server", "migrate"], env=env,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
    engine = create_engine(f"sqlite:///{tmp_path / 'save-server.sqlite3'}")
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {"stations", "connectors", "charges", "processed_events",
            "alembic_version"} <= tables


def test_unknown_command_is_refused() -> None:
    result = subprocess.run([sys.executable, "-m", "save_server", "fly"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2 and "invalid choice" in result.stderr




async def test_embedded_save_server_serves_until_cancelled_then_stops_cleanly(
        tmp_path: Path, charger: Callable[..., Any]) -> None:
    broker = InProcessBroker()
    port = free_port()
    settings = Settings(save_server_host="127.0.0.1", save_server_port=port)
    threads_before = {t.name for t in threading.enumerate()}
    task = asyncio.create_task(
        run_together(broker, [EmbeddedSaveServer(broker, tmp_path, settings)]))
    cp = charger()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        for _ in range(200):
            try:
                if (await client.get("/health")).status_code == 200:
                    break
            except httpx.TransportError:
                await asyncio.sleep(0.05)
        key = (tmp_path / "admin-api-key").read_text().strip()  # made on the first start
        assert (tmp_path / "admin-api-key").stat().st_mode & 0o777 == 0o600
        assert (await client.get(f"/charging-stations/{cp.station_id}")).status_code == 401
        client.headers["Authorization"] = f"Bearer {key}"
        event = cp.boot()
        broker.publish("ocpp-events", event["type"], json.dumps(event).encode())
        for _ in range(200):
            response = await client.get(f"/charging-stations/{cp.station_id}")
            if response.status_code == 200:
                break
            await asyncio.sleep(0.05)
        assert response.json()["status"] == "connected"
    assert (tmp_path / "save-server.sqlite3").exists()
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=10)
    assert task in done and task.cancelled()
    assert "save-server-worker" not in {t.name for t in threading.enumerate()} - threads_before
    with socket.socket() as probe:  # the port is free again
        probe.bind(("127.0.0.1", port))


def run_api_briefly(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "save_server", "api"], env=env,
                          capture_output=True, text=True, timeout=60)


def api_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "DATA_DIR": str(tmp_path), "SAVE_SERVER_HOST": "127.0.0.1",
           "SAVE_SERVER_PORT": str(free_port()), **extra}
    for name in ("DATABASE_URL", "AUTH_SIGNING_KEY_FILE", "AMQP_URL", "CSMS_ADMIN_API_KEY"):
        if name not in extra:
            env.pop(name, None)
    return env


def test_the_api_refuses_to_start_without_a_signing_key_and_says_which(tmp_path: Path) -> None:
    result = run_api_briefly(api_env(tmp_path))
    assert result.returncode != 0 and "AUTH_SIGNING_KEY_FILE" in result.stderr
    example = tmp_path / "example.pem"
    example.write_text("-----BEGIN PRIVATE KEY-----\nCHANGE-ME\n-----END PRIVATE KEY-----\n")
    result = run_api_briefly(api_env(tmp_path, AUTH_SIGNING_KEY_FILE=str(example)))
    assert result.returncode != 0 and "example placeholder" in result.stderr


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    import ipaddress
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=1)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "api.crt", tmp_path / "api.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_the_api_serves_https_with_its_certificate_and_the_preset_admin_key(
        tmp_path: Path) -> None:
    from save_server.infrastructure.accounts.tokens import ensure_key_pair

    ensure_key_pair(tmp_path / "signing.pem", tmp_path / "public.pem")
    cert, key = self_signed(tmp_path)
    preset = "csk_00112233aabb_https-test-preset-key"
    env = api_env(tmp_path, AUTH_SIGNING_KEY_FILE=str(tmp_path / "signing.pem"),
                  SAVE_SERVER_TLS_CERT_FILE=str(cert), SAVE_SERVER_TLS_KEY_FILE=str(key),
                  CSMS_ADMIN_API_KEY=preset, LOG_FORMAT="json")
    assert subprocess.run([sys.executable, "-m", "save_server", "migrate"], env=env,
                          capture_output=True, timeout=60).returncode == 0
    process = subprocess.Popen([sys.executable, "-m", "save_server", "api"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"https://127.0.0.1:{env['SAVE_SERVER_PORT']}"
    try:
        with httpx.Client(verify=str(cert), timeout=5) as client:
            for _ in range(100):
                try:
                    if client.get(f"{base}/health").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            assert client.get(f"{base}/charges").status_code == 401
            me = client.get(f"{base}/auth/me", headers={"Authorization": f"Bearer {preset}"})
            assert me.status_code == 200 and me.json()["role"] == "admin"
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{base}/health", timeout=5)  # not trusted without the certificate
    finally:
        process.terminate()
        output = process.communicate(timeout=15)[0]
    assert preset.split("_")[2] not in output.decode()  # the secret is never logged


def test_create_account_reads_the_password_from_stdin_and_prints_a_key_once(
        tmp_path: Path) -> None:
    env = api_env(tmp_path)
    assert subprocess.run([sys.executable, "-m", "save_server", "migrate"], env=env,
                          capture_output=True, timeout=60).returncode == 0
    command = [sys.executable, "-m", "save_server", "create-account", "--email",
               "Chief@Save.example", "--role", "admin", "--password-stdin", "--api-key"]
    made = subprocess.run(command, env=env, input="a password long enough\n",
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    assert "chief@save.example" in made.stdout and "a password long enough" not in made.stdout
    key = made.stdout.split("API key (shown only now): ")[1].split()[0]
    again = subprocess.run(command, env=env, input="a password long enough\n",
                           capture_output=True, text=True, timeout=60)
    assert again.returncode != 0 and "exists" in again.stderr
    short = subprocess.run([*command[:4], "x@save.example", *command[5:]], env=env,
                           input="short\n", capture_output=True, text=True, timeout=60)
    assert short.returncode != 0 and "password" in short.stderr

    from save_server.bootstrap import bootstrap as build

    container = build(Settings(database_url=f"sqlite:///{tmp_path / 'save-server.sqlite3'}",
                               data_dir=tmp_path))
    try:
        principal = container.access_control().authenticator.authenticate(key)
        assert (principal.email, principal.role.value) == ("chief@save.example", "admin")
    finally:
        container.close()
