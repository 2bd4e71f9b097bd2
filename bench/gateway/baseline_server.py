"""The BASELINE of the gateway benchmark: a bare OCPP 1.6 server written directly on the `ocpp`
package (ocpp.v16 ChargePoint + websockets), with no broker, no events, no spool.

It answers the calls the load generator sends the way the gateway does (BootNotification
Accepted, Heartbeat with UTC time, empty StatusNotification / MeterValues answers), using the
`ocpp` package's defaults (schema validation on, in a thread executor). Whatever the gateway
costs beyond this is the price of its guarantees.

    python -m bench.gateway.baseline_server --port 9100
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import logging
import signal
from datetime import UTC, datetime
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.datatypes import IdTagInfo
from ocpp.v16.enums import Action, AuthorizationStatus, RegistrationStatus
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from bench.gateway.gc_wrapper import GcPauses

HEARTBEAT_INTERVAL_SECONDS = 300
_transaction_ids = itertools.count(1)


def utc_now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class BaselineChargePoint(ChargePoint):
    """Answers the 1.6 core calls; keeps nothing."""

    @on(Action.boot_notification)
    async def on_boot_notification(self, **_: Any) -> call_result.BootNotification:
        return call_result.BootNotification(
            current_time=utc_now(), interval=HEARTBEAT_INTERVAL_SECONDS,
            status=RegistrationStatus.accepted)

    @on(Action.heartbeat)
    async def on_heartbeat(self) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=utc_now())

    @on(Action.status_notification)
    async def on_status_notification(self, **_: Any) -> call_result.StatusNotification:
        return call_result.StatusNotification()

    @on(Action.meter_values)
    async def on_meter_values(self, **_: Any) -> call_result.MeterValues:
        return call_result.MeterValues()

    @on(Action.authorize)
    async def on_authorize(self, **_: Any) -> call_result.Authorize:
        return call_result.Authorize(id_tag_info=IdTagInfo(status=AuthorizationStatus.accepted))

    @on(Action.start_transaction)
    async def on_start_transaction(self, **_: Any) -> call_result.StartTransaction:
        return call_result.StartTransaction(
            transaction_id=next(_transaction_ids),
            id_tag_info=IdTagInfo(status=AuthorizationStatus.accepted))

    @on(Action.stop_transaction)
    async def on_stop_transaction(self, **_: Any) -> call_result.StopTransaction:
        return call_result.StopTransaction()


async def handle_station(connection: ServerConnection) -> None:
    if connection.subprotocol != "ocpp1.6":
        await connection.close(1002, "ocpp1.6 subprotocol required")
        return
    station_id = connection.request.path.rstrip("/").rsplit("/", 1)[-1]
    with contextlib.suppress(ConnectionClosed):
        await BaselineChargePoint(station_id, connection).start()


async def freeze_heap_periodically(every: float) -> None:
    """Experiment: move surviving objects out of the collector's reach every few seconds, so a
    full collection no longer walks every connection (cyclic garbage frozen with them leaks)."""
    while True:
        await asyncio.sleep(every)
        gc.freeze()


async def serve_baseline(host: str, port: int, compression: str | None,
                         gc_freeze_every: float | None = None, backlog: int = 100) -> None:
    freezer = (asyncio.create_task(freeze_heap_periodically(gc_freeze_every))
               if gc_freeze_every else None)
    stop = asyncio.get_running_loop().create_future()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set_result, None)
    async with serve(handle_station, host, port, subprotocols=[Subprotocol("ocpp1.6")],
                     compression=compression, backlog=backlog) as server:
        print(f"baseline listening on ws://{host}:{port}/ocpp/<station id>", flush=True)
        await stop
        server.close()
        await server.wait_closed()
    if freezer is not None:
        freezer.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description="bare ocpp-package server (benchmark baseline)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--compression", choices=("deflate", "none"), default="none")
    parser.add_argument("--gc-freeze-every", type=float, metavar="SECONDS",
                        help="experiment: gc.freeze() periodically (not the default)")
    parser.add_argument("--backlog", type=int, default=100,
                        help="listen backlog (asyncio's default 100; experiment: 4096)")
    parser.add_argument("--gc-stats", action="store_true",
                        help="print garbage collection pauses at exit")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    gc_pauses = GcPauses()
    if args.gc_stats:
        gc.callbacks.append(gc_pauses)
    asyncio.run(serve_baseline(args.host, args.port,
                               None if args.compression == "none" else "deflate",
                               args.gc_freeze_every, args.backlog))
    if args.gc_stats:
        print(f"garbage collection pauses: {gc_pauses.summary()}", flush=True)


if __name__ == "__main__":
    main()
