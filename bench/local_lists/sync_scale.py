"""Local-list sync at scale: a card import while every station connects.

`--stations` (2,000) stations have just connected (their `ocpp-events.connect` events wait in
the sync's queue) while `--tags` (2,000) cards are imported, each valid at one station, in
batches of `--batch` (100): each batch is one commit of the id-tag store and one
`tags_changed` message per card (`--everywhere` more cards, valid at every station, are
there from the start: every station's list holds them). The messages (connects first, the
tags' as their batches commit) are handled like the sync's consumer: up to 256 at a time.

What runs is save-server's own LocalListSync on the SQL adapters (the id-tag registry as the
list source, the local-list store) on a fresh database: SQLite (the embedded default) or
`--database-url`. The stations are a fake command bus that answers each call after
`--answer-ms` (a station's round trip), keeping each station's list. Nothing of the gateway
or the broker runs: this measures the sync's own work.

Reports the time until every message was handled, the calls per kind (each station needs one
GetLocalListVersion, one GetConfiguration and its list), whether every station ends holding
its card, and the process's CPU time. Writes `bench/results/<UTC time>-local-list-sync/`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from bench.common.machine import load_line, machine_lines
from save_server.domain.id_tags.model import IdTag
from save_server.domain.station_commands import CommandAnswer, CommandBus, CommandOutcome
from save_server.infrastructure.db.engine import make_engine, migrate
from save_server.infrastructure.db.tables import station_connections, stations
from save_server.infrastructure.id_tags.store import SqlIdTagStore
from save_server.infrastructure.local_lists.source import SqlAuthorizationListSource
from save_server.infrastructure.local_lists.store import SqlLocalListStore
from save_server.service import local_lists
from save_server.service.local_lists import LocalListSync

ROOT = Path(__file__).resolve().parents[2]
CONCURRENCY = 256  # the consumer's messages in flight (infrastructure/local_lists/consumer)


class Stations(CommandBus):
    """Every station answers after `delay` s and keeps the list it was sent."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.calls: Counter[str] = Counter()
        self.lists: dict[str, dict[str, Any]] = {}
        self.versions: dict[str, int] = {}

    async def send(self, request: Any) -> CommandAnswer:
        self.calls[request.command] += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        station, p = request.station_id, request.parameters
        if request.command == "get-local-list-version":
            return self._ok({"listVersion": self.versions.get(station, 0)})
        if request.command == "get-configuration":
            return self._ok({"configurationKey": [
                {"key": "LocalAuthListMaxLength", "readonly": True, "value": "10000"},
                {"key": "SendLocalListMaxLength", "readonly": True, "value": "1000"}]})
        if request.command == "send-local-list":
            held = self.lists.setdefault(station, {})
            if p["update_type"] == "full" and p.get("part", 1) == 1:
                held.clear()
            for entry in p["entries"]:
                if entry.get("status") is None:
                    held.pop(entry["id_tag"].casefold(), None)
                else:
                    held[entry["id_tag"].casefold()] = entry
            self.versions[station] = p["list_version"]
            return self._ok({"status": "Accepted"})
        return self._ok({"status": "Accepted"})

    @staticmethod
    def _ok(payload: dict[str, Any]) -> CommandAnswer:
        return CommandAnswer(CommandOutcome.ACCEPTED, payload, ocpp_version="1.6")


def station_id(n: int) -> str:
    return f"CP{n:05d}"


def card(n: int) -> str:
    return f"CARD{n:06d}"


def connected_stations(engine: Any, count: int, at: datetime) -> None:
    """The projection's rows of stations that connected at `at` (what the unchecked-station
    sweep of the sync reads)."""
    with engine.begin() as db:
        db.execute(insert(stations), [
            {"station_id": station_id(n), "status": "connected", "first_connected_at": at,
             "last_connected_at": at, "last_seen_at": at} for n in range(count)])
        db.execute(insert(station_connections), [
            {"station_id": station_id(n), "connection_id": f"conn-{n}", "first_seen_at": at,
             "last_seen_at": at} for n in range(count)])


async def scenario(args: argparse.Namespace, database_url: str) -> dict[str, Any]:
    migrate(database_url)
    engine = make_engine(database_url)
    local_lists.CONNECT_SETTLE = args.settle  # the connect's wait before its check
    connected_stations(engine, args.stations, datetime.now(UTC) - timedelta(seconds=10))
    bus = Stations(args.answer_ms / 1000)
    sync = LocalListSync(SqlAuthorizationListSource(engine), SqlLocalListStore(engine), bus)
    tags = SqlIdTagStore(engine)
    queue: asyncio.Queue[tuple[str, int] | None] = asyncio.Queue()
    for n in range(args.stations):
        queue.put_nowait(("connect", n))

    async def handle(kind: str, n: int) -> None:
        if kind == "connect":
            await sync.station_connected(station_id(n), connection_id=f"conn-{n}",
                                         settle=args.settle)
        else:
            await sync.tags_changed([card(n)])

    async def consumer() -> None:
        while (message := await queue.get()) is not None:
            await handle(*message)

    async def importer() -> None:
        for first in range(0, args.tags, args.batch):
            batch = range(first, min(first + args.batch, args.tags))
            await asyncio.to_thread(tags.save_tags, [
                IdTag(card(n), station_ids=(station_id(n % args.stations),)) for n in batch],
                [], "bench")
            for n in batch:
                queue.put_nowait(("tag", n))
            await asyncio.sleep(args.batch_pause)

    if args.everywhere:  # already there before the stations connected
        tags.save_tags([IdTag(f"ALL{n:05d}") for n in range(args.everywhere)], [], "bench")
    cpu_before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    workers = [asyncio.create_task(consumer()) for _ in range(CONCURRENCY)]
    await importer()
    imported = time.perf_counter() - started
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    missing = [n for n in range(args.tags)
               if card(n).casefold() not in bus.lists.get(station_id(n % args.stations), {})]
    engine.dispose()
    return {"seconds": round(elapsed, 2), "import_seconds": round(imported, 2),
            "cpu_seconds": round((cpu_after.ru_utime + cpu_after.ru_stime)
                                 - (cpu_before.ru_utime + cpu_before.ru_stime), 2),
            "calls": dict(sorted(bus.calls.items())),
            "stations_missing_their_card": len(missing)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=2000)
    parser.add_argument("--tags", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--everywhere", type=int, default=0,
                        help="cards valid at every station, registered before the connects")
    parser.add_argument("--batch-pause", type=float, default=0.05,
                        help="seconds between two batches of the import")
    parser.add_argument("--answer-ms", type=float, default=5.0)
    parser.add_argument("--settle", type=float, default=2.0,
                        help="a connect's wait before its check (the sync's CONNECT_SETTLE)")
    parser.add_argument("--database-url", default=None,
                        help="an empty database (default: SQLite in a temporary folder)")
    args = parser.parse_args(argv)
    lines = machine_lines(["-m", "bench.local_lists.sync_scale", *(argv or sys.argv[1:])])
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{folder}/bench.sqlite3"
        result = asyncio.run(scenario(args, url))
    result["database"] = url.split(":", 1)[0]
    lines += [load_line("at end"), json.dumps(result)]
    out = ROOT / "bench" / "results" / (
        datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-local-list-sync")
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text("\n".join(lines) + "\n")
    (out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    print("\n".join(lines))
    print(f"written to {out}", file=sys.stderr)
    return 0 if result["stations_missing_their_card"] == 0 else 1


if __name__ == "__main__":
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    raise SystemExit(main())
