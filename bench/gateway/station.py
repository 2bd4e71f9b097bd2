"""Simulated OCPP 1.6 charging stations: one asyncio task per station, one worker per process.

A worker gets a `WorkerPlan` (plain data, picklable) with absolute wall-clock moments:
connections open between `start_at` and `start_at + ramp`; each station sends its
BootNotification once, then from `steady_at` to `end_at` sends periodic calls on a fixed
schedule (the aggregate rate spread evenly over all stations, one outstanding call per station
as OCPP-J requires), then closes. Everything is bounded by a hard deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State
from websockets.typing import Subprotocol

from bench.gateway.frames import (
    CALL,
    CALL_ERROR,
    CALL_RESULT,
    CallMix,
    call_error_frame,
    call_frame,
)

LATE_SEND_SECONDS = 0.05  # a call sent later than this after its slot counts as late
SHUTDOWN_GRACE_SECONDS = 30.0
GC_FREEZE_SECONDS = 2.0


@dataclass(frozen=True)
class WorkerPlan:
    url_prefix: str  # e.g. ws://127.0.0.1:9000/ocpp/
    stations: tuple[tuple[int, str, float], ...]  # (global index, station id, connect offset)
    total_stations: int
    start_at: float
    steady_at: float
    end_at: float
    rate: float  # aggregate periodic calls per second over all stations (0 = idle)
    mix: str
    handshake_timeout: float
    call_timeout: float
    compression: str | None
    seed: int


@dataclass
class WorkerReport:
    handshake_ms: list[float] = field(default_factory=list)
    boot_ms: list[float] = field(default_factory=list)
    steady_ms: dict[str, list[float]] = field(default_factory=dict)
    steady_timeline: list[tuple[float, float]] = field(default_factory=list)  # (sent, ms)
    handshake_failures: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    compressed_connections: int = 0
    booted_before_steady: int = 0
    held_at_end: int = 0
    closed_by_server: int = 0
    steady_calls_sent: int = 0
    steady_calls_answered: int = 0
    late_sends: int = 0
    max_send_lag_ms: float = 0.0
    server_calls: int = 0
    stale_responses: int = 0
    last_handshake_at: float = 0.0
    cpu_seconds_steady: float = 0.0
    aborted: bool = False
    longest_gc_pause_ms: float = 0.0


class CallFailed(Exception):
    """The call got a CallError, timed out or an unusable answer (already counted)."""


class SimulatedStation:
    def __init__(self, index: int, station_id: str, plan: WorkerPlan, report: WorkerReport,
                 mix: CallMix, rng: random.Random) -> None:
        self.index, self.station_id, self.plan = index, station_id, plan
        self.report, self.mix, self.rng = report, mix, rng
        self._message_seq = 0

    async def run(self, connect_offset: float) -> None:
        await sleep_until(self.plan.start_at + connect_offset)
        websocket = await self._open()
        if websocket is None:
            return
        try:
            await self._converse(websocket)
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
            self.report.closed_by_server += 1
            self.report.errors[f"connection-closed:{code}"] += 1
        except OSError as failure:
            self.report.closed_by_server += 1
            self.report.errors[f"connection-lost:{type(failure).__name__}"] += 1
        finally:
            await websocket.close()

    async def _open(self) -> ClientConnection | None:
        started = time.perf_counter()
        try:
            websocket = await connect(
                self.plan.url_prefix + self.station_id,
                subprotocols=[Subprotocol("ocpp1.6")],
                compression=self.plan.compression,
                open_timeout=self.plan.handshake_timeout,
                ping_interval=None,
                close_timeout=2,
            )
        except Exception as failure:  # every kind of failed handshake is counted, by kind
            self.report.handshake_failures[type(failure).__name__] += 1
            return None
        if websocket.subprotocol != "ocpp1.6":
            self.report.handshake_failures["no-subprotocol"] += 1
            await websocket.close()
            return None
        self.report.handshake_ms.append((time.perf_counter() - started) * 1000)
        self.report.last_handshake_at = max(self.report.last_handshake_at, time.time())
        if websocket.protocol.extensions:
            self.report.compressed_connections += 1
        return websocket

    async def _converse(self, websocket: ClientConnection) -> None:
        plan, report = self.plan, self.report
        with contextlib.suppress(CallFailed):  # already counted
            report.boot_ms.append(await self._call(websocket, "BootNotification"))
        if time.time() <= plan.steady_at:
            report.booted_before_steady += 1
        if plan.rate > 0:
            interval = plan.total_stations / plan.rate
            slot = plan.steady_at + interval * self.index / plan.total_stations
            while slot < plan.end_at:
                await self._idle_until(websocket, slot)
                lag = time.time() - slot
                report.max_send_lag_ms = max(report.max_send_lag_ms, lag * 1000)
                report.late_sends += lag > LATE_SEND_SECONDS
                action = self.mix.pick(self.rng)
                sent_at = time.time()
                report.steady_calls_sent += 1
                try:
                    latency = await self._call(websocket, action)
                except CallFailed:
                    pass
                else:
                    report.steady_calls_answered += 1
                    report.steady_ms.setdefault(action, []).append(latency)
                    report.steady_timeline.append((sent_at, latency))
                slot += interval
        await self._idle_until(websocket, plan.end_at)
        if websocket.state is State.OPEN:
            report.held_at_end += 1
        else:
            report.closed_by_server += 1
            report.errors["closed-while-idle"] += 1

    async def _idle_until(self, websocket: ClientConnection, wall_clock: float) -> None:
        """Wait until `wall_clock`, answering the server's calls as they come, as a real
        station does (not only while it waits for an answer of its own: the platform's
        commands would then wait up to a call interval, and its connect-time work, such as
        the local-list check of every station, would run on into the measured phase)."""
        while (delay := wall_clock - time.time()) > 0:
            try:
                async with asyncio.timeout(delay):
                    raw = await websocket.recv()  # cancelling recv() loses no frame
            except TimeoutError:
                return
            try:
                message = json.loads(raw)
            except ValueError:
                self.report.errors["malformed-frame"] += 1
                continue
            if isinstance(message, list) and message and message[0] == CALL:
                await self._refuse(websocket, message)
            else:
                self.report.stale_responses += 1

    async def _refuse(self, websocket: ClientConnection, message: list[Any]) -> None:
        """The server asks us something: politely refuse."""
        self.report.server_calls += 1
        await websocket.send(call_error_frame(message[1], "NotSupported", ""))

    async def _call(self, websocket: ClientConnection, action: str) -> float:
        """Send one CALL and wait for its answer; returns the round trip in milliseconds."""
        self._message_seq += 1
        message_id = f"{self._message_seq}"
        frame = call_frame(message_id, action)
        started = time.perf_counter()
        await websocket.send(frame)
        try:
            async with asyncio.timeout(self.plan.call_timeout):
                while True:
                    message = json.loads(await websocket.recv())
                    if message[0] == CALL:
                        await self._refuse(websocket, message)
                        continue
                    if message[1] != message_id:
                        self.report.stale_responses += 1
                        continue
                    if message[0] == CALL_RESULT:
                        return (time.perf_counter() - started) * 1000
                    if message[0] == CALL_ERROR:
                        self.report.errors[f"call-error:{action}:{message[2]}"] += 1
                        raise CallFailed
                    self.report.errors["unexpected-frame"] += 1
                    raise CallFailed
        except TimeoutError:
            self.report.errors[f"timeout:{action}"] += 1
            raise CallFailed from None
        except (ValueError, IndexError, TypeError):
            self.report.errors["malformed-answer"] += 1
            raise CallFailed from None


async def sleep_until(wall_clock: float) -> None:
    delay = wall_clock - time.time()
    if delay > 0:
        await asyncio.sleep(delay)


async def _measure_cpu(plan: WorkerPlan, report: WorkerReport) -> None:
    await sleep_until(plan.steady_at)
    cpu_at_steady = time.process_time()
    await sleep_until(plan.end_at)
    report.cpu_seconds_steady = time.process_time() - cpu_at_steady


class GcPauseMeter:
    """Longest garbage-collection pause of this generator process (a stall of the generator
    shows up as round-trip latency of the target, so it is reported next to it)."""

    def __init__(self) -> None:
        self.longest_ms = 0.0
        self._started = 0.0

    def __call__(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.longest_ms = max(self.longest_ms, (time.perf_counter() - self._started) * 1000)


async def _freeze_heap(every: float) -> None:
    """Keep the generator's long-lived objects (thousands of connections) out of the cyclic
    collector's full scans, which otherwise stall the loop for up to seconds at 10,000
    stations. The process is short-lived, so frozen cyclic garbage does not matter."""
    while True:
        await asyncio.sleep(every)
        gc.freeze()


async def run_worker_async(plan: WorkerPlan) -> WorkerReport:
    report = WorkerReport()
    gc_meter = GcPauseMeter()
    gc.callbacks.append(gc_meter)
    freezer = asyncio.create_task(_freeze_heap(GC_FREEZE_SECONDS))
    mix = CallMix.parse(plan.mix)
    rng = random.Random(plan.seed)
    stations = [
        SimulatedStation(index, station_id, plan, report, mix, rng).run(offset)
        for index, station_id, offset in plan.stations
    ]
    deadline = plan.end_at + plan.call_timeout + SHUTDOWN_GRACE_SECONDS - time.time()
    try:
        async with asyncio.timeout(deadline):
            await asyncio.gather(_measure_cpu(plan, report), *stations)
    except TimeoutError:
        report.aborted = True
    finally:
        freezer.cancel()
        gc.callbacks.remove(gc_meter)
    report.longest_gc_pause_ms = gc_meter.longest_ms
    return report


def run_worker(plan: WorkerPlan) -> WorkerReport:
    """Entry point of a generator process (also used in-process when --processes is 1)."""
    return asyncio.run(run_worker_async(plan))
