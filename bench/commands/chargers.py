"""The simulated stations of the remote-commands benchmark (a process of its own).

Each station connects to the gateway (boots, reports connector 1 Available) and, for the
baseline, to the benchmark's bare websocket server; on both connections it answers every call
from the CSMS at once with `{"status": "Accepted"}`. Prints `READY <n>` once all are connected
and booted, then runs until stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime

import websockets


def now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


async def answer_calls(ws: websockets.ClientConnection,
                       pending: dict[str, asyncio.Future[list]]) -> None:
    async for raw in ws:
        frame = json.loads(raw)
        if frame[0] == 2:
            await ws.send(json.dumps([3, frame[1], {"status": "Accepted"}]))
        elif frame[1] in pending:
            pending.pop(frame[1]).set_result(frame)


async def call(ws: websockets.ClientConnection, pending: dict[str, asyncio.Future[list]],
               message_id: str, action: str, payload: dict) -> list:
    future: asyncio.Future[list] = asyncio.get_running_loop().create_future()
    pending[message_id] = future
    await ws.send(json.dumps([2, message_id, action, payload]))
    return await asyncio.wait_for(future, 30)


class Fleet:
    """All stations; `booted` counts those connected to both servers and booted."""

    def __init__(self, gateway: str, baseline: str, connect_concurrency: int) -> None:
        self.gateway, self.baseline = gateway, baseline
        self.booted = 0
        self.stop = asyncio.Event()
        self._gate = asyncio.Semaphore(connect_concurrency)

    async def station(self, station_id: str) -> None:
        kwargs = {"subprotocols": ["ocpp1.6"], "compression": None, "open_timeout": 60,
                  "ping_interval": None}
        async with self._gate:
            to_gateway = await websockets.connect(f"{self.gateway}/ocpp/{station_id}",
                                                  **kwargs)
            to_baseline = await websockets.connect(f"{self.baseline}/{station_id}", **kwargs)
            pending: dict[str, asyncio.Future[list]] = {}
            readers = [asyncio.create_task(answer_calls(to_gateway, pending)),
                       asyncio.create_task(answer_calls(to_baseline, {}))]
            await call(to_gateway, pending, "b1", "BootNotification",
                       {"chargePointVendor": "BENCH", "chargePointModel": "cmd"})
            await call(to_gateway, pending, "s1", "StatusNotification",
                       {"connectorId": 1, "status": "Available", "errorCode": "NoError",
                        "timestamp": now()})
            self.booted += 1
        await self.stop.wait()
        for reader in readers:
            reader.cancel()
        await to_gateway.close()
        await to_baseline.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--baseline", required=True)
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--connect-concurrency", type=int, default=50)
    args = parser.parse_args()
    fleet = Fleet(args.gateway, args.baseline, args.connect_concurrency)
    tasks = [asyncio.create_task(fleet.station(f"{args.prefix}-{i:05d}"))
             for i in range(args.stations)]
    while fleet.booted < args.stations:
        failed = [t for t in tasks if t.done() and t.exception() is not None]
        if failed:
            raise RuntimeError(f"{len(failed)} stations failed: {failed[0].exception()!r}")
        await asyncio.sleep(0.1)
    print(f"READY {args.stations}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    fleet.stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main())
