"""Composition root: the only place that knows the concrete adapters."""

from __future__ import annotations

import asyncio
import pathlib
import signal
from dataclasses import dataclass
from typing import Any

import structlog

from ocpp_events.config import Settings
from ocpp_events.domain.authorization import FixedPolicy
from ocpp_events.domain.flood_control import FloodPolicy
from ocpp_events.domain.ports import Clock, CommandInbox, Notifier
from ocpp_events.domain.transaction_ids import TransactionIdAllocator
from ocpp_events.infrastructure.amqp_commands import AmqpCommandInbox
from ocpp_events.infrastructure.amqp_notifier import AmqpNotifier
from ocpp_events.infrastructure.heap import HeapFreezer
from ocpp_events.infrastructure.http_server import HealthServer
from ocpp_events.infrastructure.inprocess_commands import InProcessCommandInbox
from ocpp_events.infrastructure.inprocess_notifier import InProcessNotifier
from ocpp_events.infrastructure.loop_monitor import LoopLagProbe
from ocpp_events.infrastructure.metrics import GatewayMetrics
from ocpp_events.infrastructure.ocpp.session import GatewayServices
from ocpp_events.infrastructure.websocket_server import OcppServer
from ocpp_events.logs import configure_logging
from ocpp_events.service.commands import CommandExecutor
from ocpp_events.service.publishing import ConfirmedPublisher

log = structlog.get_logger("ocpp_events")

LOOP_LAG_PROBE_INTERVAL = 0.05  # seconds; 20 wake-ups/s cost nothing measurable
_POLICY_STATUS = {"accept-all": "Accepted", "reject-all": "Invalid"}


@dataclass
class Gateway:
    settings: Settings
    notifier: Notifier
    services: GatewayServices
    ocpp: OcppServer
    health: HealthServer
    commands: CommandExecutor
    heap: HeapFreezer
    loop_lag: LoopLagProbe

    async def start(self) -> None:
        await self.notifier.start()
        if self.services.command_inbox is not None:
            await self.services.command_inbox.start(self.commands.execute)
        await self.ocpp.start()
        await self.health.start()
        await self.heap.start()
        await self.loop_lag.start()

    async def stop(self) -> None:
        """Graceful: stop accepting, close stations with 1001, publish pending, disconnect."""
        if self.services.command_inbox is not None:
            await self.services.command_inbox.close()
        await self.heap.stop()
        await self.loop_lag.stop()
        await self.ocpp.stop()
        await self.health.stop()
        await self.commands.drain()
        await self.notifier.close()
        log.info("gateway stopped")


def build_gateway(settings: Settings, notifier: Notifier, clock: Clock | None = None,
                  command_inbox: CommandInbox | None = None) -> Gateway:
    clock = clock or Clock()
    metrics = GatewayMetrics()
    vendors = frozenset(v.strip() for v in settings.gateway_data_transfer_vendors.split(",")
                        if v.strip())
    services = GatewayServices(
        publisher=ConfirmedPublisher(notifier, settings.gateway_publish_timeout,
                                     metrics.observe_publish),
        transaction_ids=TransactionIdAllocator(clock),
        clock=clock,
        authorization=FixedPolicy(_POLICY_STATUS[settings.gateway_authorize_policy]),
        metrics=metrics,
        heartbeat_interval=settings.gateway_heartbeat_interval,
        data_transfer_vendors=vendors,
        command_inbox=command_inbox,
        validate_responses=settings.gateway_validate_responses,
        flood_policy=FloodPolicy(
            calls_per_second=settings.gateway_rate_limit_per_second,
            burst=settings.gateway_rate_limit_burst,
            close_after=settings.gateway_flood_close_after,
            window=settings.gateway_flood_window),
    )
    ocpp = OcppServer(
        services, host=settings.gateway_host, port=settings.gateway_port,
        path_prefix=settings.path_prefix, max_frame_bytes=settings.gateway_max_frame_bytes,
        ping_interval=settings.gateway_ping_interval or None,
        ping_timeout=settings.gateway_ping_timeout or None,
        compression=settings.gateway_compression == "deflate",
        close_timeout=settings.gateway_close_timeout,
        disconnect_retry_seconds=settings.gateway_disconnect_retry_seconds,
        listen_backlog=settings.gateway_listen_backlog,
        lifecycle_publish_concurrency=settings.gateway_lifecycle_publish_concurrency)
    health = HealthServer(settings.gateway_host, settings.gateway_http_port, metrics,
                          lambda: notifier.is_ready() and (command_inbox is None
                                                           or command_inbox.is_ready()))
    commands = CommandExecutor(ocpp.registry, services.publisher, clock,
                               settings.gateway_instance_id)
    heap = HeapFreezer(settings.gateway_gc_freeze_interval, lambda: len(ocpp.registry))
    loop_lag = LoopLagProbe(LOOP_LAG_PROBE_INTERVAL, metrics.loop_lag.observe)
    return Gateway(settings, notifier, services, ocpp, health, commands, heap, loop_lag)


class EmbeddedGateway:
    """The gateway on csms_embedded's in-process broker (the launcher's EmbeddedService).

    It only produces: `stop_producing` is the whole graceful stop (stop accepting, close the
    stations with 1001, finish the calls in flight and publish the disconnects); after it, no
    event of this gateway can reach the broker any more, so the consumers can drain."""

    name = "ocpp-events"
    consumes: tuple[str, ...] = ()

    def __init__(self, broker: Any, data_dir: pathlib.Path,
                 settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        if not structlog.is_configured():
            configure_logging(self.settings.log_format, self.settings.log_level)
        notifier = InProcessNotifier(broker, self.settings.amqp_exchange,
                                     require_routed=self.settings.gateway_require_routed)
        inbox = InProcessCommandInbox(broker, self.settings.amqp_command_exchange,
                                      self.settings.gateway_instance_id)
        self.gateway = build_gateway(self.settings, notifier, command_inbox=inbox)
        self._stopped = False

    async def start(self) -> None:
        await self.gateway.start()

    async def wait(self) -> None:
        await asyncio.Event().wait()  # the websocket server has no failure of its own to await

    async def stop_producing(self) -> None:
        if not self._stopped:
            self._stopped = True
            await self.gateway.stop()

    async def stop(self) -> None:
        await self.stop_producing()


async def run_services(settings: Settings) -> None:
    """Services mode: RabbitMQ at AMQP_URL; runs until SIGTERM/SIGINT, then stops gracefully."""
    if not settings.amqp_url:
        raise SystemExit("AMQP_URL is required for `python -m ocpp_events serve`")
    notifier = AmqpNotifier(settings.amqp_url, settings.amqp_exchange,
                            require_routed=settings.gateway_require_routed)
    inbox = AmqpCommandInbox(settings.amqp_url, settings.amqp_command_exchange,
                             settings.gateway_instance_id)
    gateway = build_gateway(settings, notifier, command_inbox=inbox)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await gateway.start()
    log.info("gateway ready", ocpp_port=gateway.ocpp.port, http_port=gateway.health.port,
             event_loop=f"{type(loop).__module__}.{type(loop).__name__}")
    await stop.wait()
    log.info("stopping on signal")
    await gateway.stop()
