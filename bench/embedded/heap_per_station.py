"""What one idle station costs `make run` in memory (issue 19, "Fast"): the embedded platform in
this process under tracemalloc, N idle stations connected (warm-up), a snapshot, N more, a
second snapshot; the difference divided by N is the cost of one more station, by source line.

    .venv/bin/python -m bench.embedded.heap_per_station --stations 2000
    .venv/bin/python -m bench.embedded.heap_per_station --stations 2000 --no-trace  # RSS only

The stations are a child process (`--client`): each opens a websocket (`ocpp1.6`, no
compression, as the load generator's idle stations do), sends one BootNotification and stays
connected without reading. Settling = every broker queue drained, then `--settle` seconds.
Prints: RSS and traced heap per station, the top lines (the allocating line, and the nearest
line of the platform's own code), and the GC-tracked objects per station by type.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import json
import os
import pathlib
import resource
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from typing import Any

from bench.embedded.run import embedded_env
from bench.embedded.tree import PAGE
from bench.gateway import targets

REPO = pathlib.Path(__file__).resolve().parents[2]
OWN_CODE = tuple(str(REPO / part / "src") for part in
                 ("ocpp-events", "embedded", "save-server", "event-store"))
KIB = 1024


# --- the stations (child process) -------------------------------------------------------------

async def _station(url: str, index: int, held: list[Any], slots: asyncio.Semaphore) -> None:
    from websockets.asyncio.client import connect
    from websockets.typing import Subprotocol

    async with slots:
        websocket = await connect(url, subprotocols=[Subprotocol("ocpp1.6")], compression=None,
                                  ping_interval=None, open_timeout=60, max_size=2**20)
        await websocket.send(json.dumps([2, "b", "BootNotification", {
            "chargePointVendor": "bench", "chargePointModel": "idle"}]))
        while json.loads(await websocket.recv())[0] == 2:  # a server call before the answer
            pass
    held.append(websocket)


async def _client(port: int, prefix: str) -> None:
    held: list[Any] = []
    slots = asyncio.Semaphore(100)
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        count = int(line)
        start = len(held)
        await asyncio.gather(*(_station(f"ws://127.0.0.1:{port}/ocpp/{prefix}{i:06d}", i, held,
                                        slots) for i in range(start, start + count)))
        print(len(held), flush=True)


# --- the platform (this process) --------------------------------------------------------------

def _rss() -> int:
    """This process only (the stations are a child)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


class Platform:
    """`run_platform` (what `make run` runs) in this loop, its broker kept for `drained`."""

    def __init__(self, data_dir: pathlib.Path) -> None:
        import csms_embedded.__main__ as launcher

        self.broker: Any = None
        real = launcher.InProcessBroker

        def capture(*args: Any) -> Any:
            self.broker = real(*args)
            return self.broker

        launcher.InProcessBroker = capture  # type: ignore[assignment]
        self.task = asyncio.create_task(launcher.run_platform(data_dir))

    def pending(self) -> int:
        queues = list(self.broker._queues)
        return sum(self.broker.pending(queue) for queue in queues)

    async def settle(self, seconds: float) -> None:
        while self.pending():
            await asyncio.sleep(0.2)
        await asyncio.sleep(seconds)
        while self.pending():
            await asyncio.sleep(0.2)

    async def stop(self) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # the launcher's own graceful stop
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.task, 120)


def _type_counts() -> collections.Counter[str]:
    gc.unfreeze()  # the gateway freezes the heap; frozen objects are not listed
    return collections.Counter(type(o).__qualname__ for o in gc.get_objects())


def _own_frame(traceback: tracemalloc.Traceback) -> str:
    """The innermost frame in the platform's own code, else the outermost one traced."""
    for frame in reversed(traceback):  # most recent call last
        if frame.filename.startswith(OWN_CODE):
            return f"{_short(frame.filename)}:{frame.lineno}"
    return f"(lib) {_short(traceback[-1].filename)}:{traceback[-1].lineno}"


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def report(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, stations: int,
           top: int) -> list[str]:
    lines = []
    total = sum(s.size_diff for s in after.compare_to(before, "filename"))
    lines.append(f"traced heap per station: {total / stations / KIB:.2f} KiB")
    lines.append("\n## allocating line (size per station, blocks per station)")
    for stat in after.compare_to(before, "lineno")[:top]:
        frame = stat.traceback[0]
        lines.append(f"{stat.size_diff / stations:9.0f} B {stat.count_diff / stations:6.2f}  "
                     f"{_short(frame.filename)}:{frame.lineno}")
    by_own: collections.Counter[str] = collections.Counter()
    counts: collections.Counter[str] = collections.Counter()
    for stat in after.compare_to(before, "traceback"):
        key = _own_frame(stat.traceback)
        by_own[key] += stat.size_diff
        counts[key] += stat.count_diff
    lines.append("\n## nearest line of the platform's code")
    for key, size in by_own.most_common(top):
        lines.append(f"{size / stations:9.0f} B {counts[key] / stations:6.2f}  {key}")
    return lines


async def main_async(args: argparse.Namespace) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory(prefix="bench-heap-") as data:
        env = embedded_env(pathlib.Path(data) / "data")
        env.update(dict(item.split("=", 1) for item in args.embedded_env))
        os.environ.update(env)
        platform = Platform(pathlib.Path(env["DATA_DIR"]))
        port = int(env["GATEWAY_PORT"])
        while not targets.port_open(port):
            await asyncio.sleep(0.2)
        client = subprocess.Popen(
            [sys.executable, "-m", "bench.embedded.heap_per_station", "--client",
             "--port", str(port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            cwd=REPO, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard)))
        loop = asyncio.get_running_loop()

        async def connect(count: int) -> None:
            assert client.stdin is not None and client.stdout is not None
            client.stdin.write(f"{count}\n")
            client.stdin.flush()
            started = time.monotonic()
            held = await loop.run_in_executor(None, client.stdout.readline)
            print(f"  {held.strip()} stations held ({time.monotonic() - started:.0f} s)",
                  flush=True)
            await platform.settle(args.settle)

        try:
            if args.trace:
                tracemalloc.start(args.frames)
            rss0 = _rss()
            await connect(args.stations)  # warm-up: one-time costs land here
            gc.collect()
            rss1, types1 = _rss(), _type_counts()
            snap1 = tracemalloc.take_snapshot() if args.trace else None
            await connect(args.stations)
            gc.collect()
            rss2, types2 = _rss(), _type_counts()
            snap2 = tracemalloc.take_snapshot() if args.trace else None
        finally:
            client.terminate()
            client.wait(30)
            await platform.stop()
    n = args.stations
    lines = [f"stations: {n} warm-up + {n} measured; tracemalloc: "
             f"{f'{args.frames} frames' if args.trace else 'off'}",
             f"RSS: {rss0 / 2**20:.0f} MiB idle, {rss1 / 2**20:.0f} MiB at N, "
             f"{rss2 / 2**20:.0f} MiB at 2N; per station {(rss1 - rss0) / n / KIB:.1f} KiB "
             f"(first N), {(rss2 - rss1) / n / KIB:.1f} KiB (second N)"]
    if snap1 is not None and snap2 is not None:
        snap1 = snap1.filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
        snap2 = snap2.filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
        lines += report(snap1, snap2, n, args.top)
    lines.append("\n## GC-tracked objects per station by type")
    diff = types2 - types1
    for name, count in diff.most_common(args.top):
        lines.append(f"{count / n:6.2f}  {name}")
    print("\n".join(lines))
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stations", type=int, default=2000, help="N (warm-up) and N more")
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--frames", type=int, default=15, help="tracemalloc frames kept")
    parser.add_argument("--no-trace", dest="trace", action="store_false")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--embedded-env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", type=pathlib.Path)
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--prefix", default="HEAP", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.client:
        asyncio.run(_client(args.port, args.prefix))
    else:
        asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
