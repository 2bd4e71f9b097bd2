"""Reconnect storm: N registered stations connect within a window, each sends BootNotification.

    .venv/bin/python bench/gateway/handshake_storm.py                        # 5,000 in 60 s
    .venv/bin/python bench/gateway/handshake_storm.py --stations 500 --window 10 --rounds 1

Same run, interleaved (profile 0, profile 2, profile 0, profile 2, ...): security profile 0
(ws://, no credentials) against profile 2 (wss:// with a server certificate made at run time by
`trustme`, plus HTTP Basic Auth checked against the salted hash in the gateway's registry copy).
Each round starts a fresh `python -m ocpp_events serve` (GATEWAY_UNKNOWN_STATIONS=reject) on
the local RabbitMQ whose registry file lists the stations, so no save-server is needed. Reports
failed handshakes, time to open (TCP + TLS + HTTP upgrade) p50/p99/max, BootNotification round
trip p99, and the gateway's CPU seconds per handshake (from /proc). Results go to --out
(default bench/results/<UTC time>-handshake-storm/, ignored by git).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import pathlib
import secrets
import ssl
import sys
import time
from datetime import UTC, datetime
from typing import Any

import trustme
from websockets.asyncio.client import connect

from bench.gateway import targets
from bench.gateway.loadgen import latency_figures, raise_open_files_limit

HERE = pathlib.Path(__file__).resolve().parent
AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
BOOT = {"chargePointVendor": "Bench", "chargePointModel": "Storm"}


def registry_file(path: pathlib.Path, station_ids: list[str], profile: int,
                  passwords: dict[str, str]) -> None:
    """The gateway's registry copy as it writes it itself (docs/events.md station objects)."""
    stations = []
    for revision, station_id in enumerate(station_ids, start=1):
        hashes = []
        if profile in (1, 2):
            salt = os.urandom(16)
            hashes.append({"algorithm": "sha256-salted", "salt": salt.hex(), "valid_until": None,
                           "hash": hashlib.sha256(salt + passwords[station_id].encode()
                                                  ).hexdigest()})
        stations.append({"charging_station_id": station_id, "revision": revision,
                         "security_profile": profile, "enabled": True, "ocpp_version": None,
                         "passwords": hashes, "certificate": {"organization": None}})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"stations": stations, "tombstones": {}}))


def cpu_seconds(pid: int) -> float:
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def one_station(base_url: str, station_id: str, headers: dict[str, str],
                      context: ssl.SSLContext | None, start_at: float, timeout: float,
                      release: asyncio.Event, figures: dict[str, list]) -> None:
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    began = time.monotonic()
    try:
        async with connect(base_url + station_id, subprotocols=["ocpp1.6"],
                           additional_headers=headers, ssl=context, open_timeout=timeout,
                           compression=None, ping_interval=None) as ws:
            figures["open_ms"].append((time.monotonic() - began) * 1000)
            sent = time.monotonic()
            await ws.send(json.dumps([2, "boot", "BootNotification", BOOT]))
            reply = json.loads(await asyncio.wait_for(ws.recv(), timeout))
            if reply[0] != 3 or reply[2].get("status") != "Accepted":
                figures["failed"].append(f"boot answered {reply!r}"[:200])
                return
            figures["boot_ms"].append((time.monotonic() - sent) * 1000)
            await release.wait()  # stay connected: a storm holds its connections
    except Exception as error:  # every kind of failure is counted, none stops the storm
        figures["failed"].append(repr(error)[:200])


async def storm(base_url: str, station_ids: list[str], passwords: dict[str, str] | None,
                context: ssl.SSLContext | None, window: float,
                timeout: float) -> dict[str, Any]:
    figures: dict[str, list] = {"open_ms": [], "boot_ms": [], "failed": []}
    release = asyncio.Event()
    first = time.monotonic() + 0.5
    step = window / len(station_ids)
    tasks = []
    for index, station_id in enumerate(station_ids):
        headers = {}
        if passwords is not None:
            token = base64.b64encode(f"{station_id}:{passwords[station_id]}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        tasks.append(asyncio.create_task(one_station(
            base_url, station_id, headers, context, first + index * step, timeout, release,
            figures)))
    while sum(len(figures[k]) for k in ("boot_ms", "failed")) < len(station_ids):
        await asyncio.sleep(0.1)
    elapsed = time.monotonic() - first
    release.set()
    await asyncio.gather(*tasks)
    return {"stations": len(station_ids), "window_s": window, "elapsed_s": round(elapsed, 2),
            "failed": len(figures["failed"]), "failures": sorted(set(figures["failed"]))[:5],
            "open_ms": latency_figures(figures["open_ms"]),
            "boot_ms": latency_figures(figures["boot_ms"])}


def run_round(profile: int, args: argparse.Namespace, out: pathlib.Path, tls: dict[str, Any],
              exchange: str, round_no: int) -> dict[str, Any]:
    prefix = f"STORM-P{profile}-{round_no}-{secrets.token_hex(3)}"
    station_ids = [f"{prefix}-{i:05d}" for i in range(args.stations)]
    passwords = {s: secrets.token_hex(16) for s in station_ids} if profile == 2 else None
    log_dir = out / f"round{round_no}-profile{profile}"
    log_dir.mkdir(parents=True)
    registry = log_dir / "registry.json"
    registry_file(registry, station_ids, profile, passwords or {})
    env = {"GATEWAY_UNKNOWN_STATIONS": "reject", "GATEWAY_REGISTRY_FILE": str(registry)}
    if profile == 2:
        env |= {"GATEWAY_TLS_CERT_FILE": str(tls["cert"]), "GATEWAY_TLS_KEY_FILE": str(tls["key"])}
    with targets.gateway(log_dir, AMQP_URL, exchange, "WARNING", env) as gateway:
        scheme = "wss" if profile == 2 else "ws"
        base_url = f"{scheme}://127.0.0.1:{gateway.port}/ocpp/"
        cpu_before = cpu_seconds(gateway.pid)
        result = asyncio.run(storm(base_url, station_ids, passwords,
                                   tls["client"] if profile == 2 else None,
                                   args.window, args.timeout))
        cpu = cpu_seconds(gateway.pid) - cpu_before
        metrics = targets.fetch_text(f"http://127.0.0.1:{gateway.extra['http_port']}/metrics")
    refused = sum(float(line.split()[-1]) for line in (metrics or "").splitlines()
                  if line.startswith("ocpp_gateway_handshakes_refused_total"))
    result |= {"profile": profile, "round": round_no, "gateway_cpu_s": round(cpu, 2),
               "gateway_cpu_ms_per_station": round(cpu * 1000 / args.stations, 3),
               "refused_by_gateway": refused}
    print(json.dumps(result), flush=True)
    return result


def report(results: list[dict[str, Any]]) -> str:
    lines = ["| round | profile | stations / window | failed | open p50 / p99 / max ms "
             "| boot p99 ms | gateway CPU s (ms per station) |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        o, b = r["open_ms"], r["boot_ms"]
        lines.append(
            f"| {r['round']} | {r['profile']} | {r['stations']} / {r['window_s']:g} s "
            f"| {r['failed']} | {o['p50']:.1f} / {o['p99']:.1f} / {o['max']:.1f} "
            f"| {b['p99']:.1f} | {r['gateway_cpu_s']:.2f} ({r['gateway_cpu_ms_per_station']:.2f}) |"
            if o["p50"] is not None and b["p99"] is not None else
            f"| {r['round']} | {r['profile']} | {r['stations']} | {r['failed']} | - | - | - |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stations", type=int, default=5000)
    parser.add_argument("--window", type=float, default=60.0, help="seconds to connect all")
    parser.add_argument("--rounds", type=int, default=2, help="profile 0 then 2, this often")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--out", type=pathlib.Path)
    args = parser.parse_args()
    out = args.out or (HERE.parent / "results"
                       / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-handshake-storm")
    out.mkdir(parents=True, exist_ok=True)
    raise_open_files_limit(4 * args.stations + 256)
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    tls_dir = out / "tls"  # generated for this run, under the ignored results folder
    tls_dir.mkdir()
    cert, key = tls_dir / "server.pem", tls_dir / "server.key"
    cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    key.write_bytes(leaf.private_key_pem.bytes())
    client = ssl.create_default_context()
    ca.configure_trust(client)
    tls = {"cert": cert, "key": key, "client": client}
    results = []
    with targets.bench_exchange(AMQP_URL) as (exchange, _queue, _audits):
        for round_no in range(1, args.rounds + 1):
            for profile in (0, 2):
                results.append(run_round(profile, args, out, tls, exchange, round_no))
    table = report(results)
    (out / "report.md").write_text(table + "\n")
    (out / "results.json").write_text(json.dumps(
        {"command": sys.argv, "results": results}, indent=2))
    print(table)
    print(f"results in {out}")
    return 0 if all(r["failed"] == 0 for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
