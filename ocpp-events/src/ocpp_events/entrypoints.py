"""Process entry points: the services-mode gateway (signals, event loop) and the embedded
gateway the `csms_embedded` launcher starts and stops. The objects come from `bootstrap`."""

from __future__ import annotations

import asyncio
import pathlib
import signal
from collections.abc import Callable
from typing import Any

import structlog

from ocpp_events.bootstrap import (
    EMBEDDED_UNKNOWN_ID_TAGS,
    EMBEDDED_UNKNOWN_STATIONS,
    SERVICES_UNKNOWN_ID_TAGS,
    SERVICES_UNKNOWN_STATIONS,
    build_gateway,
)
from ocpp_events.config import Settings
from ocpp_events.infrastructure.amqp_commands import AmqpCommandInbox
from ocpp_events.infrastructure.amqp_notifier import AmqpNotifier
from ocpp_events.infrastructure.amqp_registry import AmqpStationRegistry
from ocpp_events.infrastructure.id_tag_copy import IdTagCopy
from ocpp_events.infrastructure.inprocess_commands import InProcessCommandInbox
from ocpp_events.infrastructure.inprocess_notifier import InProcessNotifier
from ocpp_events.infrastructure.inprocess_registry import InProcessStationRegistry
from ocpp_events.infrastructure.logs import configure_logging

log = structlog.get_logger("ocpp_events")


def serve(settings: Settings | None = None) -> None:
    """`python -m ocpp_events serve`: the gateway on RabbitMQ until SIGTERM/SIGINT."""
    settings = settings or Settings()
    configure_logging(settings.log_format, settings.log_level)
    with asyncio.Runner(loop_factory=loop_factory(settings.gateway_event_loop)) as runner:
        runner.run(run_services(settings))


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop, or asyncio's own (None). `auto`: uvloop where it is installed (a
    dependency everywhere but Windows, where uvloop does not exist)."""
    if name == "asyncio":
        return None
    try:
        import uvloop
    except ImportError as error:
        if name == "auto":
            return None
        raise SystemExit("GATEWAY_EVENT_LOOP=uvloop needs `pip install uvloop`") from error
    return uvloop.new_event_loop


def _announce_unknown_id_tag_policy(settings: Settings, policy: str, printed: bool) -> None:
    """Like the station policy: embedded mode prints it, services mode logs it."""
    if policy == "reject" or settings.gateway_authorize_policy != "registry":
        if settings.gateway_authorize_policy == "accept-all":
            log.warning("every id tag is accepted (GATEWAY_AUTHORIZE_POLICY=accept-all)")
        return
    message = ("unknown id tags are accepted (GATEWAY_UNKNOWN_ID_TAGS=accept): any card "
               "charges and is flagged for enrolment; set GATEWAY_UNKNOWN_ID_TAGS=reject to "
               "refuse them")
    if printed:
        print(f"WARNING: {message}.", flush=True)
    else:
        log.warning(message)


def _announce_unknown_station_policy(policy: str, printed: bool) -> None:
    """Embedded mode prints it, not only logs it: a newcomer must see that any station id
    is let in. Services mode logs it (their output is JSON lines in containers)."""
    if policy == "reject":
        return
    message = (f"unknown stations are admitted ({policy}): any station id may connect "
               "without credentials; set GATEWAY_UNKNOWN_STATIONS=reject to refuse them")
    if printed:
        print(f"WARNING: {message}.", flush=True)
    else:
        log.warning(message)


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
        id_tags = IdTagCopy(self.settings.gateway_id_tags_file
                            or pathlib.Path(data_dir) / "gateway-id-tags.json")
        registry = InProcessStationRegistry(
            broker, self.settings.registry_exchange, self.settings.gateway_instance_id,
            self.settings.gateway_registry_file or pathlib.Path(data_dir) / "gateway-registry.json",
            feeds=[id_tags])
        policy = self.settings.gateway_unknown_stations or EMBEDDED_UNKNOWN_STATIONS
        tag_policy = self.settings.gateway_unknown_id_tags or EMBEDDED_UNKNOWN_ID_TAGS
        self.gateway = build_gateway(self.settings, notifier, command_inbox=inbox,
                                     station_registry=registry, unknown_stations=policy,
                                     id_tags=id_tags, unknown_id_tags=tag_policy)
        _announce_unknown_station_policy(policy, printed=True)
        _announce_unknown_id_tag_policy(self.settings, tag_policy, printed=True)
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
    id_tags = IdTagCopy(settings.id_tags_file)
    registry = AmqpStationRegistry(settings.amqp_url, settings.registry_exchange,
                                   settings.gateway_instance_id, settings.registry_file,
                                   feeds=[id_tags])
    gateway = build_gateway(settings, notifier, command_inbox=inbox,
                            station_registry=registry, unknown_stations=SERVICES_UNKNOWN_STATIONS,
                            id_tags=id_tags)
    _announce_unknown_station_policy(
        settings.gateway_unknown_stations or SERVICES_UNKNOWN_STATIONS, printed=False)
    _announce_unknown_id_tag_policy(
        settings, settings.gateway_unknown_id_tags or SERVICES_UNKNOWN_ID_TAGS, printed=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if gateway.tls is not None:
        loop.add_signal_handler(signal.SIGHUP, gateway.tls.reload)
    try:
        await gateway.start()
    except OSError as error:  # a port taken, an address not on this host, a bad TLS file
        log.error("gateway could not start", error=str(error))
        raise SystemExit(1) from error
    log.info("gateway ready", ocpp_port=gateway.ocpp.port, http_port=gateway.health.port,
             event_loop=f"{type(loop).__module__}.{type(loop).__name__}")
    await stop.wait()
    log.info("stopping on signal")
    await gateway.stop()
