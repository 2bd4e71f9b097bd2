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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, inspect

from csms_embedded.broker import InProcessBroker
from csms_embedded.lifecycle import run_together
from save_server.bootstrap import EmbeddedSaveServer
from save_server.config import Settings


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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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
