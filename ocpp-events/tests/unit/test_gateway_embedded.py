"""EmbeddedGateway on the in-process broker: events routed, clean shutdown on cancel."""

from __future__ import annotations

import asyncio
import json
import uuid

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from csms_embedded.broker import InProcessBroker
from csms_embedded.lifecycle import run_together
from ocpp_events.entrypoints import EmbeddedGateway
from tests.support.ports import free_port


async def test_embedded_gateway_publishes_to_the_in_process_broker_and_stops_on_cancel(
        monkeypatch, tmp_path, station_id, validate_event):
    port, exchange = free_port(), f"test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("GATEWAY_HOST", "127.0.0.1")
    monkeypatch.setenv("GATEWAY_PORT", str(port))
    monkeypatch.setenv("GATEWAY_HTTP_PORT", str(free_port()))
    monkeypatch.setenv("AMQP_EXCHANGE", exchange)
    broker = InProcessBroker()
    broker.declare_queue("all", [(exchange, "#")])
    gateway = asyncio.create_task(run_together(broker, [EmbeddedGateway(broker, tmp_path)]))
    for _ in range(200):
        try:
            ws = await connect(f"ws://127.0.0.1:{port}/ocpp/{station_id}",
                               subprotocols=["ocpp1.6"])
            break
        except OSError:
            await asyncio.sleep(0.02)
    await ws.send('[2,"1","Authorize",{"idTag":"ABC"}]')
    assert json.loads(await ws.recv()) == [3, "1", {"idTagInfo": {"status": "Accepted"}}]
    gateway.cancel()
    try:
        await ws.recv()
    except ConnectionClosed as closed:
        assert closed.rcvd.code == 1001
    await asyncio.wait_for(asyncio.gather(gateway, return_exceptions=True), 10)
    assert gateway.cancelled()
    messages = [broker.get("all", timeout=1) for _ in range(3)][1:]
    bodies = [json.loads(m.body) for m in messages if m is not None]
    assert [b["type"] for b in bodies] == ["ocpp-events.authorize", "ocpp-events.disconnect"]
    assert messages[0].headers == {"charging_station_id": station_id}
    assert messages[0].properties["message_id"] == bodies[0]["event_id"]
    assert messages[0].properties["delivery_mode"] == 2
    for body in bodies:
        validate_event(body)


async def test_nothing_bound_means_not_confirmed(make_gateway, station_id):
    from ocpp_events.infrastructure.inprocess_notifier import InProcessNotifier

    gateway = await make_gateway(InProcessNotifier(InProcessBroker(), "nobody-listens"))
    async with connect(f"ws://127.0.0.1:{gateway.ocpp.port}/ocpp/{station_id}",
                       subprotocols=["ocpp1.6"]) as ws:
        await ws.send('[2,"1","Heartbeat",{}]')
        assert json.loads(await ws.recv())[:3] == [4, "1", "InternalError"]


async def test_an_event_the_journal_cannot_write_is_not_confirmed(make_gateway, station_id,
                                                                  tmp_path):
    """Embedded mode's confirm is the journal's commit: a failing disk means CallError."""
    from csms_embedded.journal import Journal
    from ocpp_events.infrastructure.inprocess_notifier import InProcessNotifier

    broker = InProcessBroker(Journal(tmp_path / "broker.sqlite3"))
    broker.declare_queue("store", [("ocpp-events", "#")], durable=True)
    broker._journal._db.execute("DROP TABLE messages")  # every write fails from now on
    gateway = await make_gateway(InProcessNotifier(broker, "ocpp-events"))
    async with connect(f"ws://127.0.0.1:{gateway.ocpp.port}/ocpp/{station_id}",
                       subprotocols=["ocpp1.6"]) as ws:
        await ws.send('[2,"1","Heartbeat",{}]')
        assert json.loads(await ws.recv())[:3] == [4, "1", "InternalError"]
    assert broker.pending("store") == 0
    broker.close()
