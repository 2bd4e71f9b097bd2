"""`python -m csms_embedded`: the whole platform in one process (what `make run` starts).

The three services run in one asyncio loop and talk through the in-process broker; their data
lives in SQLite files under DATA_DIR (default ./.data). Ctrl-C (SIGINT) or SIGTERM stops them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pathlib
import signal
import sys

from csms_embedded.broker import InProcessBroker


def _urls() -> list[str]:
    env = os.environ.get
    return [
        f"  OCPP gateway:  ws://localhost:{env('GATEWAY_PORT', '9000')}/ocpp/<station-id>"
        f"  (health and metrics on http://localhost:{env('GATEWAY_HTTP_PORT', '9001')})",
        f"  save-server:   http://localhost:{env('SAVE_SERVER_PORT', '8080')}/docs",
        f"  event-store:   http://localhost:{env('EVENT_STORE_PORT', '8081')}/docs",
    ]


async def run_platform(data_dir: pathlib.Path) -> None:
    # Imported here so that `--help` and import errors stay cheap and explicit.
    from event_store.bootstrap import run_embedded as run_event_store
    from ocpp_events.bootstrap import run_embedded as run_gateway
    from save_server.bootstrap import run_embedded as run_save_server

    data_dir.mkdir(parents=True, exist_ok=True)
    broker = InProcessBroker()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    # Consumers first, so their queues exist before the gateway accepts a charger.
    services = [
        asyncio.create_task(run_save_server(broker, data_dir), name="save-server"),
        asyncio.create_task(run_event_store(broker, data_dir), name="event-store"),
    ]
    await asyncio.sleep(0.5)
    services.append(asyncio.create_task(run_gateway(broker, data_dir), name="ocpp-events"))
    print(f"SAVE CSMS is running (embedded mode, data in {data_dir}):", flush=True)
    print("\n".join(_urls()), flush=True)
    print("Press Ctrl-C to stop.", flush=True)

    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([stopper, *services], return_when=asyncio.FIRST_COMPLETED)
    failed = [t for t in done if t is not stopper and not t.cancelled() and t.exception()]
    for task in services:
        task.cancel()
    for task in services:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    stopper.cancel()
    if failed:
        raise RuntimeError(f"service {failed[0].get_name()} stopped") from failed[0].exception()
    print("SAVE CSMS stopped.", flush=True)


def main() -> None:
    data_dir = pathlib.Path(os.environ.get("DATA_DIR", ".data")).resolve()
    try:
        asyncio.run(run_platform(data_dir))
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from error


if __name__ == "__main__":
    main()
