"""`python -m csms_embedded`: the whole platform in one process (what `make run` starts).

The three services run in one asyncio loop and talk through the in-process broker; their data
lives in SQLite files under DATA_DIR (default ./.data). Ctrl-C (SIGINT) or SIGTERM stops them
without losing an answered call (csms_embedded.lifecycle); a second Ctrl-C skips waiting for
the last events to be stored.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import os
import pathlib
import signal
import sys

from csms_embedded import consumers
from csms_embedded.broker import InProcessBroker
from csms_embedded.journal import Journal
from csms_embedded.lifecycle import StopRequests, run_together
from csms_embedded.logfile import LogFile, LogFileError, add_log_file


def _urls() -> list[str]:
    env = os.environ.get
    return [
        f"  OCPP gateway:  ws://localhost:{env('GATEWAY_PORT', '9000')}/ocpp/<station-id>"
        f"  (health and metrics on http://localhost:{env('GATEWAY_HTTP_PORT', '9001')})",
        f"  dashboard:     http://localhost:{env('SAVE_SERVER_PORT', '8080')}/"
        "  (sign in with the admin e-mail and password)",
        f"  save-server:   http://localhost:{env('SAVE_SERVER_PORT', '8080')}/docs",
        f"  event-store:   http://localhost:{env('EVENT_STORE_PORT', '8081')}/docs",
    ]


def _log_file() -> LogFile | None:
    """`CSMS_LOG_FILE` (unset: stderr only) and its rotation (csms_embedded.logfile)."""
    path = os.environ.get("CSMS_LOG_FILE")
    if not path:
        return None
    return LogFile.parse(path, os.environ.get("CSMS_LOG_MAX_BYTES"),
                         os.environ.get("CSMS_LOG_BACKUPS"))


def _switch_interval() -> None:
    """`CSMS_SWITCH_INTERVAL_MS`: how long a thread may hold the GIL while another waits
    (CPython's default 5 ms). The consumers' threads share the interpreter with the gateway's
    event loop, which gives the GIL up at every socket call and waits up to this long to get it
    back; docs/performance.md ("Embedded mode") has the measurements behind the default."""
    value = os.environ.get("CSMS_SWITCH_INTERVAL_MS")
    if value:
        sys.setswitchinterval(float(value) / 1000)


GC_THRESHOLD = "50000,20,100"  # CPython's default: 700,10,10


def _gc_threshold() -> None:
    """`CSMS_GC_THRESHOLD` (`gc.set_threshold`, three integers). At CPython's default the
    consumers' short-lived objects start a young collection every 700 allocations and a full
    one every few seconds, each full one holding the GIL for 40 to 100 ms while every station's
    answer waits; the gateway's heap freeze (ocpp_events.infrastructure.heap) keeps the
    connections out of them but not the consumers' churn. Almost all of it dies by reference
    counting, so collecting rarely costs little memory (docs/performance.md, "Embedded mode")."""
    value = os.environ.get("CSMS_GC_THRESHOLD") or GC_THRESHOLD
    try:
        thresholds = [int(part) for part in value.split(",")]
    except ValueError:
        thresholds = []
    if len(thresholds) != 3 or thresholds[0] < 1 or min(thresholds) < 0:
        raise SystemExit("error: CSMS_GC_THRESHOLD must be three integers (the first above 0), "
                         f"not {value!r}")
    gc.set_threshold(*thresholds)


MALLOC_ARENAS = 2  # glibc's default: 8 per core
M_ARENA_MAX = -8  # glibc's malloc.h


def _malloc_arenas() -> None:
    """At most MALLOC_ARENAS glibc malloc arenas (what `MALLOC_ARENA_MAX`, which wins when set,
    does from outside). glibc gives threads that allocate at once arenas of their own, and
    their freed memory stays with each one; the consumers' threads share little, so fewer
    arenas cost no measurable time and keep ~7 MiB per process at 10,000 stations
    (docs/performance.md, "Embedded mode"). Nothing happens on another C library."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the interpreter is linked with
    except (OSError, AttributeError):  # not glibc (musl, macOS)
        return
    mallopt(M_ARENA_MAX, MALLOC_ARENAS)


def _consumer_processes() -> bool:
    """The event workers in a child process (csms_embedded.consumers), off the gateway's
    interpreter: the default; `CSMS_EMBEDDED_CONSUMER_PROCESSES=0` keeps them as threads of
    this process (~50 MiB less, a slower tail under load: docs/performance.md)."""
    value = os.environ.get("CSMS_EMBEDDED_CONSUMER_PROCESSES", "").strip().lower()
    return value not in ("0", "false", "no", "off")


def _consumer_niceness() -> int:
    """`CSMS_EMBEDDED_CONSUMER_NICE`: how much lower a consumer process's CPU priority is
    (os.nice), so that on a busy machine the gateway's answers go first and the consumers
    catch up after (their events wait durably in the journal)."""
    return int(os.environ.get("CSMS_EMBEDDED_CONSUMER_NICE", "0") or 0)


async def run_platform(data_dir: pathlib.Path, log_file: LogFile | None = None) -> None:
    # Imported here so that `--help` and import errors stay cheap and explicit.
    from event_store.entrypoints import EmbeddedEventStore
    from ocpp_events.entrypoints import EmbeddedGateway
    from save_server.entrypoints import EmbeddedSaveServer

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
    # The event-store first: it keeps every event, also the account events save-server
    # publishes at its first start (an exchange with no queue bound yet would drop them).
    # save-server's dashboard reads the event-store's API for its events pages
    event_store = f"http://127.0.0.1:{os.environ.get('EVENT_STORE_PORT', '8081')}"
    in_process = not _consumer_processes()  # else the event workers are in a child process
    store = EmbeddedEventStore(broker, data_dir, worker=in_process)
    save_server = EmbeddedSaveServer(broker, data_dir, event_store_url=event_store,
                                     worker=in_process)
    workers = [] if in_process else [consumers.ConsumerProcess(
        {"event-store": store.settings.event_store_queue,
         "save-server": save_server.settings.save_server_queue}, broker, data_dir)]
    # each consumer process after the service that declares (and migrates) its queue
    services = [store, save_server, *workers, EmbeddedGateway(broker, data_dir)]
    if log_file is not None:  # after the services set up logging (the file copies its format)
        add_log_file(log_file)
    try:
        await run_together(broker, services, requests, on_started=started)
    finally:
        broker.close()
    print("SAVE CSMS stopped.", flush=True)


def main(argv: list[str] | None = None) -> None:
    data_dir = pathlib.Path(os.environ.get("DATA_DIR", ".data")).resolve()
    args = sys.argv[1:] if argv is None else argv
    _malloc_arenas()  # before the threads start
    _gc_threshold()
    if args and args[0] in ("backup", "restore"):
        raise SystemExit(_backup_command(args, data_dir))
    services = consumers.parse_services(args[1]) if len(args) == 5 else None
    if args and args[0] == "consume" and services:
        # a consumer process the launcher started (csms_embedded.consumers)
        consumers.run_consumer(services, int(args[2]), int(args[3]), pathlib.Path(args[4]),
                               _consumer_niceness())
        return
    try:
        log_file = _log_file()
    except LogFileError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from error
    _switch_interval()
    try:
        asyncio.run(run_platform(data_dir, log_file))
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from error
    except OSError as error:  # most often a port taken: another copy running, or another app
        print(f"error: {error}\n(is SAVE CSMS already running? Its ports are set with "
              "GATEWAY_PORT, GATEWAY_HTTP_PORT, SAVE_SERVER_PORT and EVENT_STORE_PORT.)",
              file=sys.stderr)
        raise SystemExit(1) from error


def _backup_command(args: list[str], data_dir: pathlib.Path) -> int:
    """`backup DIR` (while running or not) and `restore DIR` (into an empty DATA_DIR)."""
    from csms_embedded.backup import BackupError, backup, restore

    if len(args) != 2:
        print(f"usage: python -m csms_embedded {args[0]} DIR", file=sys.stderr)
        return 2
    folder = pathlib.Path(args[1]).resolve()
    try:
        if args[0] == "backup":
            names = backup(data_dir, folder)
            print(f"backed up {', '.join(names)} from {data_dir} to {folder}")
        else:
            names = restore(folder, data_dir)
            print(f"restored {', '.join(names)} into {data_dir}; after the first start, "
                  "replay to `save-server` to bring it up to the event store")
    except BackupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    main()
