"""Embedded mode (`EmbeddedSaveServer`): the report scheduler runs as a thread beside the API and
the worker, the default subscription comes from settings, and everything stops together."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import httpx

from csms_embedded.broker import InProcessBroker
from csms_embedded.lifecycle import run_together
from save_server.config import Settings
from save_server.entrypoints import EmbeddedSaveServer
from tests.support.ports import free_port

ADMIN_KEY = "csk_0123456789ab_the-preset-admin-key-of-this-test"  # CSMS_ADMIN_API_KEY




async def test_embedded_mode_runs_the_scheduler_and_keeps_the_default_subscription(
        tmp_path: Path, smtp_server: Any) -> None:
    mail = smtp_server()
    port = free_port()
    settings = Settings(save_server_host="127.0.0.1", save_server_port=port,
                        smtp_host=mail.host, smtp_port=mail.port, smtp_security="none",
                        smtp_from="reports@save.example",
                        report_default_recipients="admin@save.example",
                        report_default_cron="0 7 * * MON", report_default_timezone="UTC",
                        report_scheduler_interval=0.2, csms_admin_api_key=ADMIN_KEY)
    broker = InProcessBroker()
    task = asyncio.create_task(
        run_together(broker, [EmbeddedSaveServer(broker, tmp_path, settings)]))
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}",
                                 headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as client:
        subscriptions: list[dict[str, Any]] = []
        for _ in range(200):
            try:
                subscriptions = (await client.get("/report-subscriptions")).json()
                break
            except httpx.TransportError:
                await asyncio.sleep(0.05)
        assert [(s["recipients"], s["schedule"], s["origin"]) for s in subscriptions] == [
            (["admin@save.example"], "0 7 * * MON", "environment")]
        assert "save-server-reports" in {t.name for t in threading.enumerate()}
        sent = await client.post(f"/report-subscriptions/{subscriptions[0]['id']}/send-now",
                                 json={"start": "2026-11-01T00:00:00Z",
                                       "end": "2026-11-08T00:00:00Z"})
        assert sent.status_code == 200 and sent.json()["state"] == "sent", sent.text
    assert len(mail.mailbox.received) == 1
    assert mail.mailbox.received[0].mail_from == "reports@save.example"
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=15)
    assert task in done
    assert "save-server-reports" not in {t.name for t in threading.enumerate()}
