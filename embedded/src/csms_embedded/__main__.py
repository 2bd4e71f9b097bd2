"""`python -m csms_embedded`: the whole platform in one process (what `make run` starts).

The three services run in one asyncio loop and talk through the in-process broker; their data
lives in SQLite files under DATA_DIR (default ./.data). Ctrl-C (SIGINT) or SIGTERM stops them
without losing an answered call (csms_embedded.lifecycle); a second Ctrl-C skips waiting for
the last events to be stored.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import signal
import sys

from csms_embedded.broker import InProcessBroker
from csms_embedded.journal import Journal
from csms_embedded.lifecycle import StopRequests, run_together


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
    from event_store.bootstrap import EmbeddedEventStore
    from ocpp_events.bootstrap import EmbeddedGateway
    from save_server.bootstrap import EmbeddedSaveServer

    data_dir.mkdir(parents=True, exist_ok=True)
    broker = InProcessBroker(Journal(data_dir / "broker.sqlite3"))
    requests = StopRequests()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, requests.request)

    def started() -> None:
        print(f"SAVE CSMS is running (embedded mode, data in {data_dir}):", flush=True)
        print("\n".join(_urls()), flush=True)
        print("Press Ctrl-C to stop.", flush=True)

    # Consumers first, so their queues exist before the gateway accepts a charger; the stop
    # order is csms_embedded.lifecycle's rule, not this list's.
    services = [EmbeddedSaveServer(broker, data_dir), EmbeddedEventStore(broker, data_dir),
                EmbeddedGateway(broker, data_dir)]
    try:
        await run_together(broker, services, requests, on_started=started)
    finally:
        broker.close()
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
