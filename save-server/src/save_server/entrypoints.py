"""Process entry points: `python -m save_server api|worker|scheduler|migrate|create-account`
(signals, uvicorn, consumer threads, retry loops) and the embedded save-server the
`csms_embedded` launcher starts and stops. The objects come from `bootstrap`."""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import structlog
import uvicorn

from save_server.bootstrap import Container, bootstrap
from save_server.config import Settings
from save_server.infrastructure.accounts.tokens import JwtTokenIssuer
from save_server.infrastructure.db.engine import migrate
from save_server.infrastructure.logs import configure_logging
from save_server.infrastructure.messaging.embedded import EmbeddedEventStream, InProcessBroker
from save_server.infrastructure.translation import HANDLED_TYPES

log = structlog.get_logger("save_server")


def run_migrate(settings: Settings | None = None) -> None:
    settings = settings or Settings()
    configure_logging(settings.log_format, settings.log_level)
    migrate(settings.resolved_database_url)
    log.info("database migrated", database=_safe_url(settings.resolved_database_url))


def run_api(settings: Settings | None = None) -> None:
    """The REST API, its credential refresher and its outbox relay."""
    from save_server.infrastructure.accounts.setup import issuer_from_file

    settings = settings or Settings()
    configure_logging(settings.log_format, settings.log_level)
    issuer = issuer_from_file(settings.auth_signing_key_file,
                              settings.auth_previous_public_keys_file)
    container = bootstrap(settings, issuer)
    stop = threading.Event()
    try:
        app = container.app()
        preset = (settings.csms_admin_api_key.get_secret_value()
                  if settings.csms_admin_api_key else "")
        if preset:
            _first_admin_when_reachable(container, stop)
        container.start_access_services(stop, container.rabbit_publisher_factory())
        if settings.amqp_url:
            from save_server.infrastructure.registry.snapshots import serve_rabbitmq
            serve_rabbitmq(settings.amqp_url, settings.resolved_registry_exchange,
                           f"{settings.save_server_queue}.registry-requests",
                           container.access_control().registry.publish_snapshot, stop)
            from save_server.infrastructure.registry import admissions
            admissions.serve_rabbitmq(settings.amqp_url, settings.amqp_exchange,
                                      f"{settings.save_server_queue}.registry-admissions",
                                      container.access_control().registry, stop)
            from save_server.infrastructure.id_tags import consumer as id_tag_consumer
            id_tag_consumer.serve_rabbitmq(settings.amqp_url, settings.amqp_exchange,
                                           settings.resolved_registry_exchange,
                                           settings.save_server_queue, container.id_tags(),
                                           stop)
            _local_lists_on_rabbitmq(container, stop)
            _serve_load_events(app.state.load, settings, stop)
        stops: list[Callable[[], None]] = []
        app.router.add_event_handler(
            "startup", lambda: stops.append(container.start_id_tag_enforcement(app)))
        app.router.add_event_handler("shutdown", lambda: [stop_() for stop_ in stops])
        uvicorn.run(app, host=settings.save_server_host, port=settings.save_server_port,
                    log_config=None, **tls_options(settings))
    finally:
        stop.set()
        container.close()


def _serve_load_events(load: Any, settings: Settings, stop: threading.Event) -> None:
    """The load queue's consumer, started once this process manages load (holds the lease:
    one API replica at a time; the others do not take its events)."""
    from save_server.infrastructure.load.context import BINDINGS
    from save_server.infrastructure.registry import consumers

    def start_when_leading() -> None:
        while not stop.is_set():
            if load.allocation.leading.wait(1.0):
                consumers.serve_rabbitmq(settings.amqp_url or "", settings.amqp_exchange,
                                         f"{settings.save_server_queue}.load-management",
                                         BINDINGS, load.handle, stop, "save-server-load")
                return

    threading.Thread(target=start_when_leading, name="save-server-load-lease",
                     daemon=True).start()


def create_account(email: str, display_name: str, role: str, password: str | None,
                   with_key: bool, settings: Settings | None = None) -> tuple[Any, str | None]:
    """`create-account`: an account (and an API key), committed with their events; the
    running API's outbox relay publishes them."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from save_server.domain.access import Principal, Role
    from save_server.domain.accounts import DuplicateEmail

    settings = settings or Settings()
    configure_logging(settings.log_format, settings.log_level)
    # signs nothing: this command issues no token (and must not need the API's key)
    container = bootstrap(settings, JwtTokenIssuer(Ed25519PrivateKey.generate()))
    try:
        service = container.access_control().accounts
        try:
            account = service.create_account(email, display_name, Role(role), password,
                                             by="create-account")
        except DuplicateEmail as error:
            raise SystemExit(f"an account with the e-mail {email} exists") from error
        key = None
        if with_key:
            setup = Principal(account.account_id, account.email, account.role, None,
                              "create-account")
            key = service.create_api_key(setup, account.account_id, "created with the account",
                                         account.role, None).secret
        return account, key
    finally:
        container.close()


def _role_process(settings: Settings | None) -> tuple[Settings, Container, threading.Event]:
    """A background role's start: its settings, logs and container, and the event that
    SIGINT/SIGTERM set to stop it."""
    settings = settings or Settings()
    configure_logging(settings.log_format, settings.log_level)
    container = bootstrap(settings)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    return settings, container, stop


def run_worker(settings: Settings | None = None) -> None:
    """Consume RabbitMQ until SIGINT/SIGTERM, then finish the current event and stop."""
    settings, container, stop = _role_process(settings)
    worker = container.worker(container.rabbit_stream, ordered=settings.save_server_shards > 0)
    if settings.save_server_worker_metrics_port is not None:
        # the worker's counters live in this process, not in the API's
        container.start_worker_probes(worker, settings.save_server_worker_metrics_port)
    log.info("worker started", queue=settings.save_server_queue,
             exchange=settings.amqp_exchange, shards=settings.save_server_shards,
             metrics_port=settings.save_server_worker_metrics_port)
    try:
        worker.run(stop)
    finally:
        container.close()
        log.info("worker stopped")


def run_scheduler(settings: Settings | None = None) -> None:
    """Send due charge reports every REPORT_SCHEDULER_INTERVAL s until SIGINT/SIGTERM."""
    settings, container, stop = _role_process(settings)
    log.info("report scheduler started", interval=settings.report_scheduler_interval,
             metrics_port=settings.save_server_scheduler_metrics_port)
    try:
        thread = container.start_reports(stop)
        if settings.save_server_scheduler_metrics_port is not None:
            container.start_scheduler_probes(thread, settings.save_server_scheduler_metrics_port)
        thread.join()
    finally:
        container.close()
        log.info("report scheduler stopped")


def _print_first_admin(admin: Any, settings: Settings) -> None:
    """Shown once, on the first start: what a newcomer needs to call the APIs."""
    port = settings.save_server_port
    print("\n".join([
        "First start: an admin account and an admin API key were created (shown only now).",
        f"  admin e-mail:    {admin.email}",
        f"  admin password:  {admin.password}",
        f"  admin API key:   {admin.api_key}",
        f"  (the key is also in {admin.key_file}, mode 0600)",
        f"  try: curl -H \"Authorization: Bearer $(cat {admin.key_file})\" "
        f"http://localhost:{port}/charging-stations",
    ]), flush=True)


def _listening_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise OSError(error.errno, f"save-server API cannot listen on {host}:{port}: "
                                   f"{error.strerror}") from error
    return sock


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside someone else's loop: the launcher owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class EmbeddedSaveServer:
    """save-server on csms_embedded's in-process broker and SQLite under `data_dir` (the
    launcher's EmbeddedService): the API in the launcher's loop, the worker and the report
    scheduler as threads. The API produces (remote commands); the worker consumes the queue
    `consumes`, which the launcher drains before `stop`."""

    name = "save-server"

    def __init__(self, broker: InProcessBroker, data_dir: pathlib.Path,
                 settings: Settings | None = None, event_store_url: str | None = None,
                 worker: bool = True) -> None:
        """`worker=False`: the event worker runs elsewhere (csms_embedded's consumer process,
        `save_server.embedded_worker`); the queue is still declared here."""
        settings = settings or Settings()
        self.settings = settings.model_copy(update={
            "data_dir": pathlib.Path(data_dir), "database_url": None,
            "event_store_url": settings.event_store_url or event_store_url})
        self._run_worker = worker
        self._admissions_queue = f"{self.settings.save_server_queue}.registry-admissions"
        from save_server.infrastructure.id_tags import consumer as id_tag_consumer
        self._local_lists_queue = f"{self.settings.save_server_queue}.local-lists"
        self._load_queue = f"{self.settings.save_server_queue}.load-management"
        self.consumes = (self.settings.save_server_queue, self._admissions_queue,
                         *id_tag_consumer.queues(self.settings.save_server_queue),
                         self._local_lists_queue, self._load_queue)
        self._broker = broker
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._serving: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Migrate the database, declare the queue, start the worker, the reports and the API."""
        settings, broker = self.settings, self._broker
        # first: a port taken stops the launcher before anything started or was printed
        self._sock = _listening_socket(settings.save_server_host, settings.save_server_port)
        await asyncio.to_thread(migrate, settings.resolved_database_url)
        self._container = container = bootstrap(settings)
        stream = EmbeddedEventStream(broker, settings.amqp_exchange, settings.save_server_queue,
                                     HANDLED_TYPES, settings.save_server_embedded_linger_ms)
        worker = threading.Thread(target=container.worker(lambda: stream).run,
                                  args=(self._stop,), name="save-server-worker", daemon=True)
        from save_server.infrastructure.commands.embedded import EmbeddedCommandBus
        self._command_bus = EmbeddedCommandBus(broker, settings.amqp_command_exchange)
        # the in-process broker is up while save-server's queue is declared in it
        self._app = container.app(self._command_bus,
                                  lambda: broker.has_queue(settings.save_server_queue))
        from save_server.infrastructure.outbox.publishers import EmbeddedEventPublisher
        from save_server.infrastructure.registry.snapshots import serve_embedded
        access = container.start_access_services(
            self._stop, lambda: EmbeddedEventPublisher(broker, settings.amqp_exchange,
                                                       settings.resolved_registry_exchange))
        snapshots = serve_embedded(broker, settings.resolved_registry_exchange,
                                   f"{settings.save_server_queue}.registry-requests",
                                   container.access_control().registry.publish_snapshot,
                                   self._stop)
        from save_server.infrastructure.registry import admissions
        admitted = admissions.serve_embedded(broker, settings.amqp_exchange,
                                             self._admissions_queue,
                                             container.access_control().registry, self._stop)
        from save_server.infrastructure.id_tags import consumer as id_tag_consumer
        id_tag_threads = id_tag_consumer.serve_embedded(
            broker, settings.amqp_exchange, settings.resolved_registry_exchange,
            settings.save_server_queue, container.id_tags(), self._stop)
        from save_server.infrastructure.local_lists.consumer import consume_embedded
        local_lists = container.start_local_lists(
            lambda: EmbeddedCommandBus(broker, settings.amqp_command_exchange),
            lambda handle: consume_embedded(broker, self._local_lists_queue,
                                            container.local_list_bindings(), handle,
                                            self._stop))
        from save_server.infrastructure.load.context import BINDINGS
        from save_server.infrastructure.registry import consumers
        load = self._app.state.load
        load_events = consumers.serve_embedded(
            broker, settings.amqp_exchange, self._load_queue,
            BINDINGS, load.handle, self._stop, "save-server-load")
        await load.start()  # lifespan is off here: start the allocation task by hand
        first_admin = await asyncio.to_thread(container.ensure_first_admin, True)
        if first_admin is not None:
            _print_first_admin(first_admin, settings)
        self._server = _EmbeddedServer(uvicorn.Config(
            self._app, host=settings.save_server_host,
            port=settings.save_server_port, log_config=None, lifespan="off",
            **tls_options(settings)))
        workers = [worker] if self._run_worker else []
        for thread in workers:
            thread.start()
        self._threads = [*workers, container.start_reports(self._stop), *access, snapshots,
                         admitted, *id_tag_threads, local_lists, load_events]
        self._stop_enforcement = container.start_id_tag_enforcement(self._app)
        self._serving = asyncio.create_task(self._server.serve(sockets=[self._sock]),
                                            name="save-server-api")

    async def wait(self) -> None:
        assert self._serving is not None
        await asyncio.shield(self._serving)

    async def stop_producing(self) -> None:
        """The API stops (open requests finish); answered commands are written down."""
        if self._serving is None or self._server.should_exit:
            return
        self._server.should_exit = True
        self._stop_enforcement()
        self._app.state.dashboard_feed.close()  # live streams end: nothing holds the stop
        with contextlib.suppress(Exception):
            await self._serving
        await self._app.state.station_commands.flush()  # lifespan is off here: flush by hand
        await self._command_bus.close()

    async def stop(self) -> None:
        await self.stop_producing()
        # after the drain: load management keeps its lease (and takes its queue's last
        # events) until then; it sends nothing meanwhile that could reach a station
        await self._app.state.load.stop()
        self._stop.set()
        for thread in self._threads:
            await asyncio.to_thread(thread.join, 10)
        if self._serving is not None:
            self._container.close()
        log.info("save-server stopped")


def _local_lists_on_rabbitmq(container: Container, stop: threading.Event) -> None:
    from save_server.infrastructure.commands.rabbitmq import RabbitCommandBus
    from save_server.infrastructure.local_lists.consumer import consume_rabbitmq

    s = container.settings
    url = s.amqp_url or ""
    container.start_local_lists(
        lambda: RabbitCommandBus(url, s.amqp_command_exchange),
        lambda handle: consume_rabbitmq(url, f"{s.save_server_queue}.local-lists",
                                        container.local_list_bindings(), handle, stop))


def _first_admin_when_reachable(container: Container, stop: threading.Event) -> None:
    """The preset admin key's account, once the database answers (the API serves its probes
    meanwhile: a database that is down is a readiness matter, not a crash)."""

    def create() -> None:
        if container.ensure_first_admin(False) is not None:
            log.info("first admin account created with the preset CSMS_ADMIN_API_KEY",
                     email=container.settings.csms_admin_email)

    def retry() -> None:
        while not stop.wait(5.0):
            try:
                create()
                return
            except Exception as error:
                log.warning("first admin not created yet", error=str(error))

    from sqlalchemy.exc import OperationalError
    try:
        create()  # the usual case: at once, before serving
    except OperationalError:
        threading.Thread(target=retry, name="save-server-first-admin", daemon=True).start()


def tls_options(settings: Settings) -> dict[str, Any]:
    """HTTPS straight from uvicorn when both files are set (else plain HTTP behind a proxy)."""
    if settings.save_server_tls_cert_file and settings.save_server_tls_key_file:
        return {"ssl_certfile": str(settings.save_server_tls_cert_file),
                "ssl_keyfile": str(settings.save_server_tls_key_file)}
    return {}


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url
    return make_url(url).render_as_string(hide_password=True)


__all__ = ["EmbeddedSaveServer", "create_account", "run_api", "run_migrate", "run_scheduler",
           "run_worker", "tls_options"]
