"""fsync latency of a filesystem (RabbitMQ's data directory by default).

    python -m bench.gateway.fsync_latency --dir /var/lib/rabbitmq --duration 10

Appends `--block` bytes to a scratch file and fsyncs it, `--rate` times per second (0 = as fast
as possible), and reports the fsync latency. The file is deleted at the end. RabbitMQ confirms
a persistent message to a durable queue only after it is on disk, so this is the floor of its
confirm latency when it has to fsync.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import time
import uuid

from bench.gateway.loadgen import latency_figures


def measure(directory: pathlib.Path, duration: float, block: int, rate: float) -> dict[str, object]:
    path = directory / f".fsync-probe-{uuid.uuid4().hex[:8]}"
    latencies: list[float] = []
    data = os.urandom(block)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        end = time.monotonic() + duration
        next_at = time.monotonic()
        while time.monotonic() < end:
            os.write(fd, data)
            started = time.perf_counter()
            os.fsync(fd)
            latencies.append((time.perf_counter() - started) * 1000)
            if rate > 0:
                next_at += 1 / rate
                time.sleep(max(0.0, next_at - time.monotonic()))
    finally:
        os.close(fd)
        path.unlink()
    return {"dir": str(directory), "block_bytes": block, "rate": rate,
            "fsyncs": len(latencies), "fsync_ms": latency_figures(latencies)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=pathlib.Path, default=pathlib.Path("/var/lib/rabbitmq"))
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--block", type=int, default=4096)
    parser.add_argument("--rate", type=float, default=0.0, help="fsyncs per second (0 = max)")
    args = parser.parse_args()
    figures = measure(args.dir, args.duration, args.block, args.rate)
    print(json.dumps(figures))
    fsync = figures["fsync_ms"]
    print(f"{args.dir}: {figures['fsyncs']} fsyncs of {args.block} B, ms p50 {fsync['p50']:.3f} "  # type: ignore[index]
          f"p99 {fsync['p99']:.3f} max {fsync['max']:.3f}")  # type: ignore[index]


if __name__ == "__main__":
    main()
