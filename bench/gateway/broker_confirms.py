"""How long does the local RabbitMQ take to confirm a publish? (isolates the gateway's tail)

    python -m bench.gateway.broker_confirms --rate 1000 --duration 20 --queue classic
    python -m bench.gateway.broker_confirms --matrix --duration 20     # every queue x consumer

Publishes event-sized JSON messages (~700 bytes) exactly as the gateway does (aiormq
`basic_publish` on a confirm channel, persistent, mandatory) to a topic exchange of its own,
from `--publishers` concurrent coroutines each with one outstanding publish (like stations
behind the gateway), at a fixed aggregate rate, and reports the confirm latency.
`--queue` chooses what the exchange routes to (all durable unless `transient`):
`classic` (classic queue, the broker's default version — v1 on RabbitMQ 3.10 — with no
arguments: what save-server and event-store declare), `classic-v2` (`x-queue-version: 2`),
`lazy` (`x-queue-mode: lazy`), `quorum`, `transient` (non-durable) or `none`.
`--consumer` drains the queue meanwhile with manual acks and prefetch 200, like the platform's
workers (pika, in a process of its own); without it messages pile up in the queue.
`--transient` sends delivery_mode 1.
Exchange and queue are unique per run and deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import multiprocessing.sharedctypes
import multiprocessing.synchronize
import time
import uuid

import aio_pika
import aiormq

from bench.gateway.loadgen import latency_figures
from bench.gateway.procstat import busy_percent_since, read_system_busy, wait_for_quiet

QUEUE_ARGUMENTS: dict[str, dict[str, object]] = {
    "classic": {},
    "classic-v2": {"x-queue-version": 2},
    "lazy": {"x-queue-mode": "lazy"},
    "quorum": {"x-queue-type": "quorum"},
    "transient": {},
    "none": {},
}
CONSUMER_PREFETCH = 200


def event_body(index: int) -> bytes:
    return json.dumps({
        "event_id": str(uuid.uuid4()), "type": "ocpp-events.meter-values", "schema_version": 1,
        "charging_station_id": f"BENCH-{index:05d}", "ocpp_version": "1.6",
        "connection_id": str(uuid.uuid4()), "message_id": str(index), "action": "MeterValues",
        "received_at": "2026-11-25T12:00:00.123456Z",
        "payload": {"connectorId": 1, "meterValue": [{"timestamp": "2026-11-25T12:00:00Z",
                    "sampledValue": [{"value": "1234.5", "measurand":
                                      "Energy.Active.Import.Register", "unit": "Wh"}]}]},
        "response": {},
    }).encode()


def burn(microseconds: float) -> None:
    """Busy CPU, like the gateway's per-call work (parse, validate, answer) on the same loop."""
    until = time.perf_counter() + microseconds / 1e6
    while time.perf_counter() < until:
        pass


async def publisher(channel: aiormq.abc.AbstractChannel, exchange: str, index: int,
                    publishers: int, interval: float, start: float, end: float,
                    mandatory: bool, delivery_mode: int, latencies: list[float],
                    cpu_us: float = 0.0, wait: bool = True) -> None:
    slot = start + interval * index / publishers
    while slot < end:
        delay = slot - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if cpu_us:
            burn(cpu_us)
        properties = aiormq.spec.Basic.Properties(
            content_type="application/json", delivery_mode=delivery_mode,
            message_id=str(uuid.uuid4()), headers={"charging_station_id": f"BENCH-{index}"})
        started = time.perf_counter()
        confirmation = await channel.basic_publish(
            event_body(index), exchange=exchange, routing_key="ocpp-events.meter-values",
            properties=properties, mandatory=mandatory, wait=wait)
        latencies.append((time.perf_counter() - started) * 1000)
        if not isinstance(confirmation, aiormq.spec.Basic.Ack):
            raise RuntimeError(f"not confirmed: {confirmation!r}")
        slot += interval


async def bind_stations(channel: aio_pika.abc.AbstractChannel, queue_name: str, per_second: float,
                        end: float) -> int:
    """What the gateway does per connecting station for remote commands: bind an exclusive
    queue to a direct exchange with the station id as routing key (one broker RPC each)."""
    exchange = await channel.declare_exchange(f"{queue_name}-commands",
                                              aio_pika.ExchangeType.DIRECT, durable=True)
    queue = await channel.declare_queue(f"{queue_name}-commands", exclusive=True)
    bound = 0
    next_at = time.monotonic()
    while next_at < end:
        delay = next_at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await queue.bind(exchange, routing_key=f"BENCH-{bound:06d}")
        bound += 1
        next_at += 1 / per_second
    await queue.delete(if_unused=False, if_empty=False)
    await exchange.delete()
    return bound


def drain(url: str, queue: str, stop: multiprocessing.synchronize.Event,
          consumed: multiprocessing.sharedctypes.Synchronized) -> None:  # type: ignore[type-arg]
    """A consumer like the platform's workers (manual acks, prefetch 200), in a process of its
    own so that its CPU does not delay the publishers' event loop."""
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.basic_qos(prefetch_count=CONSUMER_PREFETCH)

    def on_message(ch, method, _properties, _body) -> None:  # type: ignore[no-untyped-def]
        ch.basic_ack(method.delivery_tag)
        with consumed.get_lock():
            consumed.value += 1

    channel.basic_consume(queue, on_message)
    while not stop.is_set():
        connection.process_data_events(time_limit=0.2)
    connection.close()


async def run(args: argparse.Namespace) -> dict[str, object]:
    name = f"bench-confirms-{uuid.uuid4().hex[:10]}"
    connection = await aio_pika.connect(args.amqp_url)
    spawn = multiprocessing.get_context("spawn")
    stop, consumed = spawn.Event(), spawn.Value("q", 0)
    consumer: multiprocessing.process.BaseProcess | None = None
    latencies: list[float] = []
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC,
                                                  durable=True)
        queue = None
        if args.queue != "none":
            arguments = {"x-expires": 3_600_000, **QUEUE_ARGUMENTS[args.queue]}
            queue = await channel.declare_queue(name, durable=args.queue != "transient",
                                                arguments=arguments)
            await queue.bind(exchange, "#")
            if args.consumer:
                consumer = spawn.Process(target=drain, args=(args.amqp_url, name, stop, consumed),
                                         daemon=True)
                consumer.start()
        underlay = await channel.get_underlay_channel()
        interval = args.publishers / args.rate
        start = time.monotonic() + 0.5
        end = start + args.duration
        binder = (bind_stations(await connection.channel(), name, args.binds_per_second, end)
                  if args.binds_per_second else asyncio.sleep(0, 0))
        *_, bindings = await asyncio.gather(*(
            publisher(underlay, name, index, args.publishers, interval, start, end,
                      queue is not None, 1 if args.transient else 2, latencies,
                      args.cpu_per_publish_us, not args.no_wait)
            for index in range(args.publishers)), binder)
        if consumer is not None:
            stop.set()
            consumer.join(timeout=30)
        if queue is not None:
            await queue.delete(if_unused=False, if_empty=False)
        await exchange.delete()
    finally:
        if consumer is not None:
            stop.set()
            consumer.join(timeout=30)
        await connection.close()
    return {"queue": args.queue, "consumer": args.consumer, "transient": args.transient,
            "wait": not args.no_wait, "cpu_per_publish_us": args.cpu_per_publish_us,
            "rate": args.rate, "bindings_made": bindings, "consumed": consumed.value,
            "achieved_rate": len(latencies) / args.duration,
            "confirm_ms": latency_figures(latencies)}


def summary(figures: dict[str, object]) -> str:
    confirm = figures["confirm_ms"]
    return (f"queue={figures['queue']} consumer={figures['consumer']} "
            f"transient={figures['transient']} wait={figures['wait']} "
            f"cpu/publish={figures['cpu_per_publish_us']:g} us: "
            f"{figures['achieved_rate']:.0f}/s, "
            f"consumed {figures['consumed']}, confirm ms p50 {confirm['p50']:.2f} "  # type: ignore[index]
            f"p99 {confirm['p99']:.2f} max {confirm['max']:.2f}; machine busy "  # type: ignore[index]
            f"{figures.get('machine_busy_percent_before', 'n/a')} % before, "
            f"{figures.get('machine_busy_percent_during', 'n/a')} % during")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/%2F")
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--publishers", type=int, default=200)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--queue", choices=tuple(QUEUE_ARGUMENTS), default="classic")
    parser.add_argument("--consumer", action="store_true",
                        help="drain the queue meanwhile (manual acks, prefetch 200)")
    parser.add_argument("--matrix", action="store_true",
                        help="classic, classic-v2, lazy, quorum, each without and with consumer")
    parser.add_argument("--transient", action="store_true")
    parser.add_argument("--no-wait", action="store_true",
                        help="aiormq basic_publish(wait=False): do not hold the channel lock "
                             "until the writer task has written the frame")
    parser.add_argument("--cpu-per-publish-us", type=float, default=0.0,
                        help="busy CPU before each publish, on the publishers' loop (the "
                             "gateway spends ~500 us per call)")
    parser.add_argument("--wait-ab", action="store_true",
                        help="run each variant with wait=True, then wait=False")
    parser.add_argument("--binds-per-second", type=float, default=0.0,
                        help="meanwhile bind station routing keys like the gateway's commands")
    parser.add_argument("--json", help="write every run's figures to this file")
    parser.add_argument("--quiet-below", type=float, default=0.0, metavar="PERCENT",
                        help="before each run, wait until the machine is less busy than this")
    parser.add_argument("--quiet-timeout", type=float, default=300.0)
    args = parser.parse_args()
    if not 0 < args.duration <= 600 or args.rate <= 0 or not 1 <= args.publishers <= 10_000:
        parser.error("--duration in (0, 600], --rate > 0, --publishers in [1, 10000]")
    variants = [(args.queue, args.consumer)]
    if args.matrix:
        variants = [(queue, consumer) for queue in ("classic", "classic-v2", "lazy", "quorum")
                    for consumer in (False, True)]
    waits = (False, True) if args.wait_ab else (args.no_wait,)
    variants_nw = [(queue, consumer, no_wait) for queue, consumer in variants for no_wait in waits]
    runs = []
    for queue, consumer, no_wait in variants_nw:
        busy_before = wait_for_quiet(args.quiet_below, args.quiet_timeout)
        before = read_system_busy()
        figures = asyncio.run(run(argparse.Namespace(**{**vars(args), "queue": queue,
                                                        "consumer": consumer,
                                                        "no_wait": no_wait})))
        figures["machine_busy_percent_before"] = round(busy_before, 1)
        figures["machine_busy_percent_during"] = round(busy_percent_since(before), 1)
        runs.append(figures)
        print(summary(figures), flush=True)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(runs, out, indent=2)


if __name__ == "__main__":
    main()
