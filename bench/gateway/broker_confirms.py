"""How long does the local RabbitMQ take to confirm a publish? (isolates the gateway's tail)

    python bench/gateway/broker_confirms.py --rate 1000 --duration 20 --queue classic

Publishes event-sized JSON messages (~700 bytes) to a topic exchange of its own with publisher
confirms, from `--publishers` concurrent coroutines each with one outstanding publish (like
stations behind the gateway), at a fixed aggregate rate, and reports the confirm latency.
`--queue` chooses what the exchange routes to: a durable classic queue, a quorum queue, a
non-durable queue, or none; `--transient` sends delivery_mode 1 instead of persistent.
Exchange and queue are unique per run and deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid

import aio_pika
from loadgen import latency_figures


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


async def publisher(exchange: aio_pika.abc.AbstractExchange, index: int, publishers: int,
                    interval: float, start: float, end: float, mandatory: bool,
                    delivery_mode: aio_pika.DeliveryMode, latencies: list[float]) -> None:
    slot = start + interval * index / publishers
    while slot < end:
        delay = slot - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        message = aio_pika.Message(event_body(index), content_type="application/json",
                                   delivery_mode=delivery_mode)
        started = time.perf_counter()
        await exchange.publish(message, routing_key="ocpp-events.meter-values",
                               mandatory=mandatory)
        latencies.append((time.perf_counter() - started) * 1000)
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


async def run(args: argparse.Namespace) -> dict[str, object]:
    name = f"bench-confirms-{uuid.uuid4().hex[:10]}"
    connection = await aio_pika.connect(args.amqp_url)
    latencies: list[float] = []
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC,
                                                  durable=True)
        queue = None
        if args.queue != "none":
            arguments = {"x-expires": 3_600_000}
            if args.queue == "quorum":
                arguments["x-queue-type"] = "quorum"
            queue = await channel.declare_queue(name, durable=args.queue != "transient",
                                                arguments=arguments)
            await queue.bind(exchange, "#")
        interval = args.publishers / args.rate
        start = time.monotonic() + 0.5
        end = start + args.duration
        binder = (bind_stations(await connection.channel(), name, args.binds_per_second, end)
                  if args.binds_per_second else asyncio.sleep(0, 0))
        *_, bindings = await asyncio.gather(*(
            publisher(exchange, index, args.publishers, interval, start, end, queue is not None,
                      aio_pika.DeliveryMode.NOT_PERSISTENT if args.transient
                      else aio_pika.DeliveryMode.PERSISTENT, latencies)
            for index in range(args.publishers)), binder)
        if queue is not None:
            await queue.delete(if_unused=False, if_empty=False)
        await exchange.delete()
    finally:
        await connection.close()
    return {"queue": args.queue, "transient": args.transient, "rate": args.rate,
            "bindings_made": bindings,
            "achieved_rate": len(latencies) / args.duration,
            "confirm_ms": latency_figures(latencies)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/%2F")
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--publishers", type=int, default=200)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--queue", choices=("classic", "quorum", "transient", "none"),
                        default="classic")
    parser.add_argument("--transient", action="store_true")
    parser.add_argument("--binds-per-second", type=float, default=0.0,
                        help="meanwhile bind station routing keys like the gateway's commands")
    args = parser.parse_args()
    if not 0 < args.duration <= 600 or args.rate <= 0 or not 1 <= args.publishers <= 10_000:
        parser.error("--duration in (0, 600], --rate > 0, --publishers in [1, 10000]")
    figures = asyncio.run(run(args))
    confirm = figures["confirm_ms"]
    print(json.dumps(figures))
    print(f"queue={args.queue} transient={args.transient} binds/s={args.binds_per_second:g} "
          f"({figures['bindings_made']} made): {figures['achieved_rate']:.0f}/s, "
          f"confirm ms p50 {confirm['p50']:.2f} p99 {confirm['p99']:.2f} "  # type: ignore[index]
          f"max {confirm['max']:.2f}")  # type: ignore[index]


if __name__ == "__main__":
    main()
