"""The simulated stations of the local-list benchmark (a process of its own).

Each station connects to the gateway and to the benchmark's bare websocket server (the
baseline) as OCPP 1.6 and answers the CSMS at once: GetLocalListVersion 0, GetConfiguration
with `SendLocalListMaxLength` = --per-message and `LocalAuthListMaxLength` = --max-length,
SendLocalList Accepted (entries counted, not kept). Prints `READY <n>` once all are connected,
`ENTRIES <total>` when stdin closes, then exits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

import websockets

RECEIVED = {"entries": 0}


def answer(action: str, payload: dict, per_message: int, max_length: int) -> dict:
    if action == "GetLocalListVersion":
        return {"listVersion": 0}
    if action == "GetConfiguration":
        return {"configurationKey": [
            {"key": "LocalAuthListEnabled", "readonly": False, "value": "true"},
            {"key": "LocalAuthListMaxLength", "readonly": True, "value": str(max_length)},
            {"key": "SendLocalListMaxLength", "readonly": True, "value": str(per_message)}]}
    if action == "SendLocalList":
        RECEIVED["entries"] += len(payload.get("localAuthorizationList", []))
    return {"status": "Accepted"}


async def serve(ws: websockets.ClientConnection, per_message: int, max_length: int) -> None:
    async for raw in ws:
        frame = json.loads(raw)
        if frame[0] == 2:
            reply = answer(frame[2], frame[3], per_message, max_length)
            await ws.send(json.dumps([3, frame[1], reply]))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--baseline", required=True)
    parser.add_argument("--stations", type=int, default=100)
    parser.add_argument("--prefix", default="LL")
    parser.add_argument("--per-message", type=int, default=500)
    parser.add_argument("--max-length", type=int, default=10_000)
    args = parser.parse_args()
    kwargs = {"subprotocols": ["ocpp1.6"], "compression": None, "open_timeout": 60,
              "ping_interval": None, "max_size": 64 * 2**20}
    readers = []
    for n in range(args.stations):
        station_id = f"{args.prefix}-{n:04d}"
        for url in (f"{args.gateway}/ocpp/{station_id}", f"{args.baseline}/{station_id}"):
            ws = await websockets.connect(url, **kwargs)
            readers.append(asyncio.create_task(serve(ws, args.per_message, args.max_length)))
    print(f"READY {args.stations}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    print(f"ENTRIES {RECEIVED['entries']}", flush=True)
    for reader in readers:
        reader.cancel()


if __name__ == "__main__":
    asyncio.run(main())
