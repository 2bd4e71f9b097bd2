"""Authorize round trip with the id tag registry copy against accept-all, same run, interleaved.

    .venv/bin/python -m bench.gateway.authorize_tags                     # 100,000 tags, 500/s
    .venv/bin/python -m bench.gateway.authorize_tags --tags 1000 --duration 5 --rounds 1

Each round starts a fresh `python -m ocpp_events serve` on the local RabbitMQ, alternately
with `GATEWAY_AUTHORIZE_POLICY=accept-all` (the baseline: no lookup) and `registry` with an id
tag copy file of --tags tags (as the gateway writes it itself: a tenth blocked, a tenth with a
group and an expiry, a tenth with a running charge elsewhere), so no save-server is needed.
--stations 1.6 stations then send Authorize at an aggregate --rate for --duration seconds,
each with a random registered tag (the same sequence in both policies), after --warmup seconds
of the same load that are not counted. Reports the round trip
p50 / p99 / max, failures, the statuses answered, the gateway's start-up time and RSS (the
copy's memory), and the gateway's CPU per call (from /proc: less sensitive than latency to
other jobs on a shared machine). Results go to --out (default
bench/results/<UTC time>-authorize-tags/, ignored by git).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import random
import secrets
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from websockets.asyncio.client import connect

from bench.gateway import targets
from bench.gateway.loadgen import latency_figures, raise_open_files_limit

HERE = pathlib.Path(__file__).resolve().parent
AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def id_tags_file(path: pathlib.Path, tags: list[str]) -> None:
    """The gateway's id tag copy as it writes it itself (docs/events.md tag objects)."""
    documents, running = [], []
    for revision, id_tag in enumerate(tags, start=1):
        kind = revision % 10
        documents.append({
            "id_tag": id_tag, "revision": revision, "token_type": None,
            "group_id": f"APTO-{revision % 500}" if kind == 1 else None,
            "status": "blocked" if kind == 2 else "active",
            "expires_at": "2030-01-01T00:00:00Z" if kind == 1 else None,
            "site_ids": None, "station_ids": None, "max_concurrent_charges": 1,
            "budget_exhausted": False})
        if kind == 3:
            running.append({"id_tag": id_tag, "revision": revision, "charges": [
                {"charging_station_id": "CP-elsewhere", "transaction_id": str(revision)}]})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"tags": documents, "tombstones": {},
                                "active_charges": running}))


class _Sink:
    """A publisher that confirms at once and a connection that keeps nothing."""

    async def publish(self, event: Any) -> None:
        return None

    async def send(self, message: str) -> None:
        return None


async def _handler_cost(policy: Any, frames: list[str]) -> float:
    """CPU µs per Authorize through the whole 1.6 handler path (parse, validation, answer,
    event), with no socket and no broker."""
    from ocpp_events.domain.ports import Clock
    from ocpp_events.domain.transaction_ids import TransactionIdAllocator
    from ocpp_events.infrastructure.ocpp.session import GatewayServices, Session
    from ocpp_events.infrastructure.ocpp.v16 import ChargePoint16
    from ocpp_events.service.publishing import ConfirmedPublisher

    clock = Clock()
    services = GatewayServices(publisher=ConfirmedPublisher(_Sink(), 1.0),  # type: ignore[arg-type]
                               transaction_ids=TransactionIdAllocator(clock), clock=clock,
                               authorization=policy)
    station = ChargePoint16(Session("CP-bench", "c", "1.6"), services, _Sink())
    began = time.process_time()
    for frame in frames:
        await station.route_message(frame)
    return (time.process_time() - began) / len(frames) * 1e6


def decision_cost(tags_file: pathlib.Path, tags: list[str], decisions: int = 200_000,
                  calls: int = 20_000) -> dict[str, float]:
    """CPU µs per decision and per Authorize handled, in this process (no socket, no
    broker): what the copy adds to a call, whatever the machine's load; the copy's load
    time."""
    from ocpp_events.domain.authorization import FixedPolicy, TokenRequest, UnknownIdTags
    from ocpp_events.infrastructure.id_tag_copy import IdTagCopy
    from ocpp_events.service.id_tag_authorization import RegistryAuthorization

    began = time.perf_counter()
    copy = IdTagCopy(tags_file)
    load_s = time.perf_counter() - began
    chooser = random.Random(0)
    requests = [TokenRequest(chooser.choice(tags), "CP-1", None) for _ in range(decisions)]
    figures = {"load_s": round(load_s, 2)}
    for name, policy in (("accept-all", FixedPolicy()),
                         ("registry", RegistryAuthorization(copy, UnknownIdTags.REJECT))):
        began = time.process_time()
        for request in requests:
            policy.authorize(request)
        figures[f"{name}_us"] = round((time.process_time() - began) / decisions * 1e6, 2)
    frames = [json.dumps([2, str(n), "Authorize", {"idTag": chooser.choice(tags)}])
              for n in range(calls)]
    for name, policy in (("accept-all", FixedPolicy()),
                         ("registry", RegistryAuthorization(copy, UnknownIdTags.REJECT))) * 2:
        cost = asyncio.run(_handler_cost(policy, frames))
        key = f"{name}_handler_us"
        figures[key] = round(min(figures.get(key, cost), cost), 1)  # best of two, interleaved
    return figures


def cpu_seconds(pid: int) -> float:
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def one_station(base_url: str, station_id: str, tokens: list[str], interval: float,
                      start_at: float, measure_from: float, end_at: float,
                      figures: dict[str, Any]) -> None:
    async with connect(base_url + station_id, subprotocols=["ocpp1.6"], compression=None,
                       ping_interval=None) as ws:
        next_at = start_at
        for number, token in enumerate(tokens):
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            if time.monotonic() >= end_at:
                return
            sent = time.monotonic()
            try:
                await ws.send(json.dumps([2, str(number), "Authorize", {"idTag": token}]))
                reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
            except Exception as error:  # counted, the run goes on
                figures["failed"].append(repr(error)[:200])
                return
            if reply[0] != 3:
                figures["failed"].append(f"answered {reply!r}"[:200])
            elif sent >= measure_from:  # the warm-up's calls are made, not counted
                figures["ms"].append((time.monotonic() - sent) * 1000)
                figures["statuses"][reply[2]["idTagInfo"]["status"]] += 1
            next_at += interval


async def load(base_url: str, tags: list[str], args: argparse.Namespace,
               seed: int) -> dict[str, Any]:
    figures: dict[str, Any] = {"ms": [], "failed": [], "statuses": Counter()}
    per_station = args.rate / args.stations
    calls = int(per_station * (args.warmup + args.duration)) + 1
    chooser = random.Random(seed)
    start = time.monotonic() + 1.0
    end = start + args.warmup + args.duration
    tasks = [asyncio.create_task(one_station(
        base_url, f"AUTH-{seed}-{n:04d}", [chooser.choice(tags) for _ in range(calls)],
        1 / per_station, start + n / args.rate, start + args.warmup, end, figures))
        for n in range(args.stations)]
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"calls": len(figures["ms"]), "calls_per_s": round(len(figures["ms"]) / args.duration),
            "failed": len(figures["failed"]), "failures": sorted(set(figures["failed"]))[:5],
            "statuses": dict(figures["statuses"]), "ms": latency_figures(figures["ms"])}


def run_round(policy: str, args: argparse.Namespace, out: pathlib.Path, exchange: str,
              tags: list[str], tags_file: pathlib.Path, round_no: int) -> dict[str, Any]:
    log_dir = out / f"round{round_no}-{policy}"
    log_dir.mkdir(parents=True)
    env = {"GATEWAY_AUTHORIZE_POLICY": policy, "GATEWAY_UNKNOWN_ID_TAGS": "reject",
           "GATEWAY_ID_TAGS_FILE": str(tags_file)}
    began = time.monotonic()
    with targets.gateway(log_dir, AMQP_URL, exchange, "WARNING", env) as gateway:
        ready_s = time.monotonic() - began
        rss, cpu_before = rss_mib(gateway.pid), cpu_seconds(gateway.pid)
        result = asyncio.run(load(f"ws://127.0.0.1:{gateway.port}/ocpp/", tags, args, round_no))
        cpu = cpu_seconds(gateway.pid) - cpu_before  # warm-up included: per call made
    made = result["calls"] * (args.warmup + args.duration) / args.duration
    result |= {"policy": policy, "round": round_no, "ready_s": round(ready_s, 2),
               "rss_mib_at_start": round(rss, 1),
               "gateway_cpu_ms_per_call": round(cpu * 1000 / max(made, 1), 3)}
    print(json.dumps(result), flush=True)
    return result


def report(results: list[dict[str, Any]], args: argparse.Namespace,
           cost: dict[str, float]) -> str:
    lines = [f"{args.tags} tags, {args.stations} stations, {args.rate:g} Authorize/s for "
             f"{args.duration:g} s per round (after {args.warmup:g} s of warm-up)", "",
             f"in process: copy loaded in {cost['load_s']} s; CPU per decision "
             f"{cost['registry_us']} µs (accept-all {cost['accept-all_us']} µs); per Authorize "
             f"through the handler {cost['registry_handler_us']} µs (accept-all "
             f"{cost['accept-all_handler_us']} µs)", "",
             "| round | policy | calls/s | failed | p50 / p99 / max ms | gateway CPU ms/call "
             "| ready s | RSS MiB | statuses |", "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        m = r["ms"]
        timing = (f"{m['p50']:.2f} / {m['p99']:.2f} / {m['max']:.1f}" if m["p50"] is not None
                  else "-")
        lines.append(f"| {r['round']} | {r['policy']} | {r['calls_per_s']} | {r['failed']} "
                     f"| {timing} | {r['gateway_cpu_ms_per_call']:.3f} | {r['ready_s']:.2f} "
                     f"| {r['rss_mib_at_start']:.0f} "
                     f"| {', '.join(f'{k} {v}' for k, v in sorted(r['statuses'].items()))} |")
    for round_no in sorted({r["round"] for r in results}):
        pair = {r["policy"]: r["ms"]["p99"] for r in results if r["round"] == round_no}
        if pair.get("accept-all") and pair.get("registry"):
            lines.append(f"\nround {round_no}: registry p99 / accept-all p99 = "
                         f"{pair['registry'] / pair['accept-all']:.2f}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tags", type=int, default=100_000)
    parser.add_argument("--stations", type=int, default=50)
    parser.add_argument("--rate", type=float, default=500.0, help="Authorize calls/s in all")
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds per round")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of calls not counted")
    parser.add_argument("--rounds", type=int, default=2, help="accept-all then registry, so often")
    parser.add_argument("--out", type=pathlib.Path)
    args = parser.parse_args()
    out = args.out or (HERE.parent / "results"
                       / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-authorize-tags")
    out.mkdir(parents=True, exist_ok=True)
    raise_open_files_limit(4 * args.stations + 256)
    tags = [f"{secrets.token_hex(7).upper()}" for _ in range(args.tags)]  # 14-hex RFID UIDs
    tags_file = out / "gateway-id-tags.json"
    id_tags_file(tags_file, tags)
    cost = decision_cost(tags_file, tags)
    print(json.dumps(cost), flush=True)
    results = []
    with targets.bench_exchange(AMQP_URL, consume=True) as (exchange, _queue, _audits):
        for round_no in range(1, args.rounds + 1):
            for policy in ("accept-all", "registry"):
                results.append(run_round(policy, args, out, exchange, tags, tags_file,
                                         round_no))
    table = report(results, args, cost)
    (out / "report.md").write_text(table + "\n")
    (out / "results.json").write_text(json.dumps(
        {"command": sys.argv, "decision_cost": cost, "results": results}, indent=2))
    print(table)
    print(f"results in {out}")
    return 0 if all(r["failed"] == 0 for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
