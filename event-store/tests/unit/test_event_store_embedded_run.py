"""EmbeddedEventStore: worker and API on the in-process broker until cancelled, then a clean
stop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading

import httpx

from csms_embedded.broker import InProcessBroker
from csms_embedded.lifecycle import run_together
from event_store.config import Settings
from event_store.entrypoints import EmbeddedEventStore
from tests.support.ports import free_port


async def poll_events(client: httpx.AsyncClient, url: str, count: int) -> list[dict]:
    for _ in range(200):
        with contextlib.suppress(httpx.TransportError):
            response = await client.get(url)
            if response.status_code == 200 and len(response.json()) >= count:
                return response.json()
        await asyncio.sleep(0.025)
    raise AssertionError(f"fewer than {count} events at {url}")


async def stop(task: asyncio.Task) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)


def store_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("event-store")]


async def test_embedded_event_store_ingests_serves_replays_and_stops_cleanly(
        tmp_path, envelope, account_events):
    broker = InProcessBroker()
    port = free_port()
    settings = Settings(data_dir=tmp_path, event_store_host="127.0.0.1", event_store_port=port)
    task = asyncio.create_task(
        run_together(broker, [EmbeddedEventStore(broker, tmp_path, settings)]))
    await asyncio.sleep(0)  # the queue exists from the first step on: nothing published is lost
    body = envelope(station="CP-EMB")
    assert broker.publish("ocpp-events", "ocpp-events.heart-beat", body) == 1
    accounts, key = account_events("admin")  # as save-server publishes them
    for account_event in accounts:
        broker.publish("ocpp-events", json.loads(account_event)["type"], account_event)
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, timeout=5, headers=headers) as client:
        events = await poll_events(client, "/events?charging_station_id=CP-EMB", 1)
        assert events[0]["charging_station_id"] == "CP-EMB"
        broker.declare_queue("save-server-test")
        replay = await client.post("/replays", json={"target": "save-server-test",
                                                     "type": ["ocpp-events.heart-beat"]})
        assert replay.status_code == 202
        for _ in range(100):
            state = (await client.get(f"/replays/{replay.json()['id']}")).json()["state"]
            if state == "completed":
                break
            await asyncio.sleep(0.02)
        assert state == "completed"
        assert broker.get("save-server-test", timeout=1).body == body
        assert (await client.get("/ready")).status_code == 200
    await stop(task)
    assert store_threads() == []
    assert (tmp_path / "event-store.sqlite3").exists()

    fresh = InProcessBroker()
    again = asyncio.create_task(
        run_together(fresh, [EmbeddedEventStore(fresh, tmp_path, settings)]))
    async with httpx.AsyncClient(base_url=base, timeout=5, headers=headers) as client:
        events = await poll_events(client, "/events?charging_station_id=CP-EMB", 1)
    await stop(again)
    assert len(events) == 1  # a second run reuses the stored data
    assert store_threads() == []


async def test_embedded_event_store_reports_a_busy_port_clearly(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = Settings(data_dir=tmp_path, event_store_host="127.0.0.1",
                            event_store_port=port)
        try:
            broker = InProcessBroker()
            await run_together(broker, [EmbeddedEventStore(broker, tmp_path, settings)])
        except OSError as error:
            assert f"127.0.0.1:{port}" in str(error)
        else:
            raise AssertionError("the event-store started on a busy port")
    assert store_threads() == []
