"""Local-list benchmark (issue 15): a full list of --tags (10,000) built and sent to
--stations (100) in ≤ 30 s, through the real path, against a same-run baseline.

- `platform`: save-server's LocalListSync (the tags in the memory source, the state in
  SQLite, the embedded command bus) → the in-process broker → the real gateway
  (`EmbeddedGateway`: translation, schema validation, websocket) → stations in a process of
  their own (`stations.py`) that answer at once. Per station: GetLocalListVersion,
  GetConfiguration, then the list split by the station's `SendLocalListMaxLength` (Full +
  Differential parts); every station in parallel. Time: first call → last station's list
  recorded as accepted; the list is built per station inside that time.
- `direct` baseline: this process sends the same SendLocalList frames (built beforehand)
  straight to the same stations over a bare websocket, one message at a time per station,
  every station in parallel: the wire and the stations' floor.

Writes `bench/results/<UTC time>-local-lists/{results.json,report.md}`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import websockets

from bench.common.machine import load_line, machine_lines

ROOT = Path(__file__).resolve().parents[2]
TARGET_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Baseline:
    """A bare websocket server: one connection per station; calls answered in order."""

    def __init__(self) -> None:
        self.connections: dict[str, Any] = {}
        self._ready = asyncio.Event()

    async def handle(self, ws: Any) -> None:
        self.connections[ws.request.path.strip("/")] = ws
        await ws.wait_closed()

    async def send_all(self, station_id: str, frames: list[str]) -> None:
        ws = self.connections[station_id]
        for frame in frames:
            await ws.send(frame)
            json.loads(await ws.recv())


def source_of(tags: int) -> Any:
    from save_server.domain.local_lists import AuthorizationEntry
    from save_server.infrastructure.local_lists.memory import MemoryAuthorizationListSource

    source = MemoryAuthorizationListSource()
    now = datetime.now(UTC)
    for n in range(tags):
        source.put(AuthorizationEntry(
            f"TAG{n:06d}", expires_at=now + timedelta(days=365) if n % 3 == 0 else None,
            parent_id_tag=f"APT-{n // 4:05d}", last_used_at=now - timedelta(minutes=n)))
    return source


def baseline_frames(source: Any, station_id: str, per_message: int) -> list[str]:
    from save_server.domain.local_lists import desired_list, plan
    from save_server.service.local_list_limits import send_parameters

    frames = []
    desired = desired_list(source.entries_for(station_id), datetime.now(UTC), None, 20)
    for message in plan(None, desired, 1, per_message):
        p = send_parameters(message)
        frames.append(json.dumps([2, str(uuid.uuid4()), "SendLocalList", {
            "listVersion": p["list_version"], "updateType": p["update_type"].capitalize(),
            "localAuthorizationList": [{"idTag": e["id_tag"], "idTagInfo": {
                k2: e[k1] for k1, k2 in (("status", "status"), ("expires_at", "expiryDate"),
                                         ("parent_id_tag", "parentIdTag")) if k1 in e}}
                for e in p["entries"]]}]))
    return frames


async def run(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-local-lists-"))
    gateway_port, exchange = free_port(), f"bench-ll-{uuid.uuid4().hex[:8]}"
    os.environ.update({"GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": str(gateway_port),
                       "GATEWAY_HTTP_PORT": str(free_port()), "AMQP_EXCHANGE": exchange,
                       "GATEWAY_UNKNOWN_STATIONS": "auto-register", "LOG_LEVEL": "WARNING",
                       "GATEWAY_RATE_LIMIT_PER_SECOND": "0"})
    from csms_embedded.broker import InProcessBroker
    from ocpp_events.entrypoints import EmbeddedGateway
    from save_server.infrastructure.commands.embedded import EmbeddedCommandBus
    from save_server.infrastructure.db.engine import make_engine, migrate
    from save_server.infrastructure.local_lists.store import SqlLocalListStore
    from save_server.service.local_lists import LocalListSync

    if args.no_gateway_validation:
        from ocpp_events.infrastructure.ocpp import charge_point

        checked = charge_point.validate
        charge_point.validate = lambda message, version: (  # type: ignore[assignment]
            None if getattr(message, "action", None) == "SendLocalList"
            else checked(message, version))
    broker = InProcessBroker()
    broker.declare_queue("bench-sink", [(exchange, "#")])  # the gateway's events go somewhere
    gateway = EmbeddedGateway(broker, tmp)
    await gateway.start()
    baseline = Baseline()
    baseline_port = free_port()
    server = await websockets.serve(baseline.handle, "127.0.0.1", baseline_port,
                                    subprotocols=["ocpp1.6"], compression=None,
                                    max_size=64 * 2**20, ping_interval=None)
    stations = subprocess.Popen(
        [sys.executable, "-m", "bench.local_lists.stations", "--gateway",
         f"ws://127.0.0.1:{gateway_port}", "--baseline", f"ws://127.0.0.1:{baseline_port}",
         "--stations", str(args.stations), "--per-message", str(args.per_message),
         "--max-length", str(args.tags)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert stations.stdout is not None and stations.stdin is not None
        ready = await asyncio.to_thread(stations.stdout.readline)
        assert ready.startswith("READY"), ready
        await asyncio.sleep(1.0)  # the gateway binds each station's command queue
        ids = [f"LL-{n:04d}" for n in range(args.stations)]
        source = source_of(args.tags)
        url = f"sqlite:///{tmp / 'save-server.sqlite3'}"
        migrate(url)
        engine = make_engine(url)
        store = SqlLocalListStore(engine)
        bus = EmbeddedCommandBus(broker, "ocpp-commands", poll_seconds=0.05)
        sync = LocalListSync(source, store, bus, timeout=120,
                             concurrency=args.stations)
        started = time.perf_counter()
        await asyncio.gather(*(sync.station_connected(s) for s in ids))
        platform_seconds = time.perf_counter() - started
        states = [store.get(s) for s in ids]
        complete = sum(1 for s in states if s is not None and s.held is not None
                       and len(s.held) == args.tags)
        sends = sum(len(store.sends(s, 10_000)) for s in ids)
        await bus.close()
        engine.dispose()

        frames = {s: baseline_frames(source, s, args.per_message) for s in ids}
        started = time.perf_counter()
        await asyncio.gather(*(baseline.send_all(s, frames[s]) for s in ids))
        direct_seconds = time.perf_counter() - started
        stations.stdin.close()
        entries_line = await asyncio.to_thread(stations.stdout.readline)
    finally:
        with contextlib.suppress(Exception):
            stations.stdin.close()  # type: ignore[union-attr]
        stations.wait(30)
        server.close()
        await gateway.stop()
    return {"stations": args.stations, "tags": args.tags, "per_message": args.per_message,
            "gateway_validates_send_local_list": not args.no_gateway_validation,
            "platform_seconds": round(platform_seconds, 2),
            "direct_seconds": round(direct_seconds, 2),
            "stations_complete": complete, "send_local_list_messages": sends,
            "entries_received_by_stations": int(entries_line.split()[1]),
            "target_seconds": TARGET_SECONDS,
            "verdict": "pass" if platform_seconds <= TARGET_SECONDS
            and complete == args.stations else "miss"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=100)
    parser.add_argument("--tags", type=int, default=10_000)
    parser.add_argument("--per-message", type=int, default=500,
                        help="the stations' SendLocalListMaxLength")
    parser.add_argument("--no-gateway-validation", action="store_true",
                        help="diagnostic: the gateway does not schema-validate SendLocalList "
                             "before sending it (its share of the time)")
    args = parser.parse_args()
    header = [*machine_lines(sys.argv), load_line("before")]
    result = asyncio.run(run(args))
    header.append(load_line("after"))
    folder = ROOT / "bench" / "results" / (
        datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-local-lists")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps({"header": header, **result}, indent=2))
    report = "\n".join([*header, "", *(f"{k}: {v}" for k, v in result.items())])
    (folder / "report.md").write_text(report + "\n")
    print(report)


if __name__ == "__main__":
    main()
