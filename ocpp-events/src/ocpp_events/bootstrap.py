"""The composition root: builds the object graph from `Settings` and picks the adapters.
The process entry points (signals, uvicorn, loops, the embedded service) are in `entrypoints`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog

from ocpp_events.config import Settings
from ocpp_events.domain.admission import AdmissionPolicy, UnknownStations
from ocpp_events.domain.authorization import (
    AuthorizationPolicy,
    FixedPolicy,
    UnknownIdTags,
)
from ocpp_events.domain.flood_control import FloodPolicy
from ocpp_events.domain.handshake_limits import FailedHandshakes, HandshakeLimit
from ocpp_events.domain.ports import (
    Clock,
    CommandInbox,
    IdTagDirectory,
    Notifier,
    StationRegistry,
)
from ocpp_events.domain.transaction_ids import TransactionIdAllocator
from ocpp_events.infrastructure.handshake import HandshakeGuard
from ocpp_events.infrastructure.heap import HeapFreezer
from ocpp_events.infrastructure.id_tag_copy import IdTagCopy
from ocpp_events.infrastructure.loop_monitor import LoopLagProbe
from ocpp_events.infrastructure.metrics import GatewayMetrics
from ocpp_events.infrastructure.ocpp.session import GatewayServices
from ocpp_events.infrastructure.probes import HealthServer
from ocpp_events.infrastructure.registry_memory import InMemoryStationRegistry
from ocpp_events.infrastructure.tls import ServerTls
from ocpp_events.infrastructure.websocket_server import OcppServer
from ocpp_events.service.commands import CommandExecutor
from ocpp_events.service.id_tag_authorization import RegistryAuthorization
from ocpp_events.service.publishing import ConfirmedPublisher

log = structlog.get_logger("ocpp_events")

LOOP_LAG_PROBE_INTERVAL = 0.05  # seconds; 20 wake-ups/s cost nothing measurable
_POLICY_STATUS = {"accept-all": "Accepted", "reject-all": "Invalid"}
# What an id missing from the registry gets when GATEWAY_UNKNOWN_STATIONS is unset.
SERVICES_UNKNOWN_STATIONS = "reject"
EMBEDDED_UNKNOWN_STATIONS = "auto-register"  # `make run`: a newcomer's simulator just works
# What an id tag missing from the registry gets when GATEWAY_UNKNOWN_ID_TAGS is unset.
SERVICES_UNKNOWN_ID_TAGS = "reject"
EMBEDDED_UNKNOWN_ID_TAGS = "accept"  # `make run`: any card charges and is flagged for enrolment


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
    station_registry: StationRegistry
    tls: ServerTls | None = None
    _tls_watch: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Starts every part; when one fails (e.g. its port is taken), closes the broker
        links already opening, so the failure ends the process instead of hanging it."""
        try:
            await self._start()
        except BaseException:
            await self._close_links()
            raise

    async def _close_links(self) -> None:
        if self._tls_watch is not None:
            self._tls_watch.cancel()
        if self.services.command_inbox is not None:
            await self.services.command_inbox.close()
        await self.station_registry.close()
        await self.notifier.close()

    async def _start(self) -> None:
        await self.notifier.start()
        await self.station_registry.start()
        interval = self.settings.gateway_tls_reload_interval
        if self.tls is not None and interval > 0:
            self._tls_watch = asyncio.create_task(self.tls.watch(interval))
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
        if self._tls_watch is not None:
            self._tls_watch.cancel()
        await self.ocpp.stop()
        await self.health.stop()
        await self.commands.drain()
        await self.station_registry.close()
        await self.notifier.close()
        log.info("gateway stopped")


def build_gateway(settings: Settings, notifier: Notifier, clock: Clock | None = None,
                  command_inbox: CommandInbox | None = None,
                  station_registry: StationRegistry | None = None,
                  unknown_stations: str = "reject", id_tags: IdTagDirectory | None = None,
                  unknown_id_tags: str = SERVICES_UNKNOWN_ID_TAGS) -> Gateway:
    """`unknown_stations` / `unknown_id_tags` are the mode's defaults when
    GATEWAY_UNKNOWN_STATIONS / GATEWAY_UNKNOWN_ID_TAGS are unset."""
    clock = clock or Clock()
    metrics = GatewayMetrics()
    id_tags = id_tags if id_tags is not None else IdTagCopy()
    if station_registry is None:  # (an empty registry is falsy: it has a length)
        station_registry = InMemoryStationRegistry()
    tls = _server_tls(settings)
    vendors = frozenset(v.strip() for v in settings.gateway_data_transfer_vendors.split(",")
                        if v.strip())
    services = GatewayServices(
        publisher=ConfirmedPublisher(notifier, settings.gateway_publish_timeout,
                                     metrics.observe_publish),
        transaction_ids=TransactionIdAllocator(clock),
        clock=clock,
        authorization=_authorization(settings, id_tags,
                                     settings.gateway_unknown_id_tags or unknown_id_tags, clock),
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
        station_registry=station_registry,
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
        lifecycle_publish_concurrency=settings.gateway_lifecycle_publish_concurrency,
        ssl_context=tls.context if tls else None)
    ocpp.guard = _handshake_guard(settings, station_registry, metrics, ocpp, clock,
                                  settings.gateway_unknown_stations or unknown_stations,
                                  tls is not None)
    metrics.registry_stations.set_function(lambda: len(station_registry))
    metrics.id_tags.set_function(lambda: len(id_tags))
    if tls is not None:
        metrics.tls_days_to_expiry.set_function(tls.days_to_expiry)
    health = HealthServer(settings.gateway_host, settings.gateway_http_port, metrics,
                          lambda: notifier.is_ready() and station_registry.is_ready()
                          and (command_inbox is None or command_inbox.is_ready()),
                          lambda: _readiness_details(station_registry, tls, id_tags))
    commands = CommandExecutor(ocpp.registry, services.publisher, clock,
                               settings.gateway_instance_id)
    heap = HeapFreezer(settings.gateway_gc_freeze_interval, lambda: len(ocpp.registry))
    loop_lag = LoopLagProbe(LOOP_LAG_PROBE_INTERVAL, metrics.loop_lag.observe)
    return Gateway(settings, notifier, services, ocpp, health, commands, heap, loop_lag,
                   station_registry, tls)


def _authorization(settings: Settings, id_tags: IdTagDirectory, unknown: str,
                   clock: Clock) -> AuthorizationPolicy:
    policy = settings.gateway_authorize_policy
    if policy == "registry":
        return RegistryAuthorization(id_tags, UnknownIdTags(unknown), clock)
    return FixedPolicy(_POLICY_STATUS[policy])


def _server_tls(settings: Settings) -> ServerTls | None:
    if settings.gateway_tls_cert_file is None or settings.gateway_tls_key_file is None:
        return None
    return ServerTls(settings.gateway_tls_cert_file, settings.gateway_tls_key_file,
                     settings.gateway_tls_client_ca_file)


def _handshake_guard(settings: Settings, registry: StationRegistry, metrics: GatewayMetrics,
                     ocpp: OcppServer, clock: Clock, unknown_stations: str,
                     tls: bool) -> HandshakeGuard:
    window = settings.gateway_handshake_failure_window
    return HandshakeGuard(
        registry,
        AdmissionPolicy(UnknownStations(unknown_stations),
                        settings.gateway_certificate_organization),
        FailedHandshakes(HandshakeLimit(settings.gateway_handshake_failures_per_address,
                                        window)),
        FailedHandshakes(HandshakeLimit(settings.gateway_handshake_failures_per_station,
                                        window)),
        metrics, ocpp.publish_in_background, clock.now, tls)


def _readiness_details(registry: StationRegistry, tls: ServerTls | None,
                       id_tags: IdTagDirectory) -> list[str]:
    lines = [f"registry: {len(registry)} stations, "
             f"{'receiving changes' if registry.is_ready() else 'not receiving changes'}",
             f"id tags: {len(id_tags)}"]
    if tls is not None:
        lines.append(f"tls certificate expires at {tls.expires_at.isoformat()} "
                     f"({tls.days_to_expiry():.1f} days)")
    return lines
