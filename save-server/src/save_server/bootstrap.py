"""The composition root: the only module that knows the concrete adapters."""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine, text

from save_server.config import Settings
from save_server.domain.ports import EventPublisher, EventStream, UnitOfWork
from save_server.domain.station_commands import CommandBus
from save_server.infrastructure.accounts.tokens import JwtTokenIssuer
from save_server.infrastructure.api.app import create_app
from save_server.infrastructure.api.dependencies import AccessControl, ApiDependencies
from save_server.infrastructure.db.engine import make_engine, migrate
from save_server.infrastructure.db.postgresql import PostgresStatements
from save_server.infrastructure.db.readers import SqlChargeReader, SqlStationReader
from save_server.infrastructure.db.sqlite import SqliteStatements
from save_server.infrastructure.db.statements import SqlStatements
from save_server.infrastructure.db.station_cache import StationCache
from save_server.infrastructure.db.uow import SqlUnitOfWork
from save_server.infrastructure.logs import configure_logging
from save_server.infrastructure.messaging.embedded import EmbeddedEventStream, InProcessBroker
from save_server.infrastructure.messaging.worker import EventWorker
from save_server.infrastructure.probes import CachedCheck, Check, start_probe_server
from save_server.infrastructure.translation import HANDLED_TYPES
from save_server.service.reports import ReportService, RetryPolicy
from save_server.service.reports import run_scheduler as run_report_scheduler
from save_server.service.station_commands import StationCommands

log = structlog.get_logger("save_server")

READY_CACHE_SECONDS = 5.0  # a probe storm costs one AMQP connection per this many seconds
LIVENESS_SECONDS = 60.0  # the consume loop ticks at least every ~10 s (poll, backoff)
STATEMENTS: dict[str, type[SqlStatements]] = {"postgresql": PostgresStatements,
                                              "sqlite": SqliteStatements}


@dataclass
class Container:
    settings: Settings
    engine: Engine
    statements: type[SqlStatements]  # the SQL of the engine's database
    station_cache: StationCache  # the stations this process's workers last committed
    token_issuer: JwtTokenIssuer
    _access: AccessControl | None = None
    _outbox_wake: threading.Event = field(default_factory=threading.Event)
    _enforcement_task: Any = None  # kept referenced while it runs
    _load: Any = None

    def uow_factory(self) -> UnitOfWork:
        return SqlUnitOfWork(self.engine, self.statements, self.station_cache)

    def access_control(self) -> AccessControl:
        """One authenticator per process: every app of this container shares its copy."""
        if self._access is None:
            from save_server.infrastructure.accounts.passwords import Argon2PasswordHasher
            from save_server.infrastructure.accounts.store import SqlAccountStore
            from save_server.service.accounts import AccountService
            from save_server.service.authentication import Authenticator
            from save_server.service.sign_in import SignIn

            s = self.settings
            store = SqlAccountStore(self.engine, on_commit=self._outbox_wake.set)
            hasher = Argon2PasswordHasher()
            authenticator = Authenticator(store, self.token_issuer)
            with contextlib.suppress(Exception):  # else loaded on first use or by the refresher
                authenticator.refresh(force=True)
            self._access = AccessControl(
                authenticator, AccountService(store, hasher, authenticator),
                SignIn(store, hasher, self.token_issuer, authenticator,
                       s.auth_access_token_seconds, s.auth_refresh_token_seconds),
                self._registry())
        return self._access

    def _registry(self) -> Any:
        from save_server.infrastructure.registry.store import SqlRegistryStore
        from save_server.service.registry import RegistryService
        return RegistryService(SqlRegistryStore(self.engine, on_commit=self._outbox_wake.set))

    def start_access_services(self, stop: threading.Event,
                              publisher_factory: Callable[[], EventPublisher] | None
                              ) -> list[threading.Thread]:
        """The credential refresher and, with a publisher, the outbox relay."""
        from save_server.infrastructure.accounts.setup import run_refresher
        threads = [run_refresher(self.access_control().authenticator, stop)]
        if publisher_factory is not None:
            from save_server.infrastructure.outbox.relay import OutboxRelay
            threads.append(OutboxRelay(self.engine, publisher_factory,
                                       self._outbox_wake).start(stop))
        return threads

    def rabbit_publisher_factory(self) -> Callable[[], EventPublisher] | None:
        url, exchange = self.settings.amqp_url, self.settings.amqp_exchange
        registry_exchange = self.settings.resolved_registry_exchange
        if not url:
            return None
        from save_server.infrastructure.outbox.publishers import RabbitEventPublisher
        return lambda: RabbitEventPublisher(url, exchange, registry_exchange)

    def ensure_first_admin(self, with_password: bool) -> Any:
        from save_server.infrastructure.accounts.setup import ensure_first_admin
        s = self.settings
        preset = (s.csms_admin_api_key.get_secret_value() if s.csms_admin_api_key else "") or None
        return ensure_first_admin(self.access_control().accounts, s.csms_admin_email, preset,
                                  s.data_dir if with_password else None, with_password)

    def api_dependencies(self, broker_ready: Check | None = None) -> ApiDependencies:
        checks = self.readiness_checks(broker_ready)
        return ApiDependencies(SqlStationReader(self.engine), SqlChargeReader(self.engine),
                               self.uow_factory,
                               lambda: {name: check() for name, check in checks.items()})

    def readiness_checks(self, broker_ready: Check | None = None) -> dict[str, Check]:
        """The database, and the broker: `broker_ready` (embedded mode), else AMQP_URL's
        RabbitMQ (an AMQP connection at most every READY_CACHE_SECONDS), else none."""
        checks: dict[str, Check] = {"database": self.database_ready}
        url = self.settings.amqp_url
        if broker_ready is None and url:
            from save_server.infrastructure.messaging.rabbitmq import broker_reachable
            broker_ready = CachedCheck(lambda: broker_reachable(url), READY_CACHE_SECONDS)
        if broker_ready is not None:
            checks["broker"] = broker_ready
        return checks

    def app(self, command_bus: CommandBus | None = None,
            broker_ready: Check | None = None) -> FastAPI:
        # operators' retry/send-now answer after one attempt (the scheduler retries with backoff)
        dependencies = self.api_dependencies(broker_ready)
        commands = self.station_commands(command_bus)
        return create_app(dependencies, self.access_control(),
                          self.report_service(retry=RetryPolicy(attempts=1)), commands,
                          self.id_tags(), self.dashboard(dependencies),
                          self.local_list_store(), self.load_context(commands))

    def local_list_store(self) -> Any:
        from save_server.infrastructure.local_lists.store import SqlLocalListStore
        return SqlLocalListStore(self.engine)

    def start_local_lists(self, make_bus: Callable[[], CommandBus],
                          consume: Callable[[Any], Any]) -> threading.Thread:
        """Stations' local lists kept in sync (docs/architecture.md, "Local authorization
        lists"): a thread with its own loop, command bus and consumer."""
        from save_server.infrastructure.local_lists import runner
        from save_server.infrastructure.local_lists.source import SqlAuthorizationListSource
        from save_server.service.local_lists import SYNC_TIMEOUT, LocalListSync

        store, source = self.local_list_store(), SqlAuthorizationListSource(self.engine)
        timeout = min(SYNC_TIMEOUT, self.settings.save_server_command_timeout)
        return runner.start(make_bus, lambda bus: LocalListSync(source, store, bus, timeout),
                            consume)

    def local_list_bindings(self) -> list[tuple[str, str]]:
        from save_server.infrastructure.local_lists.runner import bindings
        return bindings(self.settings.amqp_exchange, self.settings.resolved_registry_exchange)

    def id_tags(self) -> Any:
        """The id tag service (infrastructure/id_tags), on this container's database."""
        from save_server.infrastructure.id_tags.store import SqlIdTagStore
        from save_server.service.id_tags import IdTagService
        return IdTagService(SqlIdTagStore(self.engine, on_commit=self._outbox_wake.set),
                            default_timezone=self.settings.report_default_timezone)

    def dashboard(self, dependencies: ApiDependencies) -> Any:
        """The staff dashboard's session (on the API's sign-in) and live station feed."""
        from save_server.infrastructure.dashboard import DashboardParts
        from save_server.infrastructure.dashboard.idle import ActivityStamps
        from save_server.infrastructure.dashboard.live import LiveFeed, station_revisions
        from save_server.infrastructure.dashboard.load_view import power_documents, power_stamps
        from save_server.infrastructure.dashboard.session import CookiePolicy, Sessions
        from save_server.infrastructure.dashboard.station_live import status_history

        access = self.access_control()
        policy = CookiePolicy(self.settings.dashboard_idle_minutes * 60)
        stamps = ActivityStamps(self.token_issuer, policy.idle_seconds)
        return DashboardParts(Sessions(access.authenticator, access.sign_in, policy, stamps),
                              LiveFeed(station_revisions(self.engine),
                                       dependencies.station_reader.document),
                              self.settings.event_store_url, power_documents(self.engine),
                              power_stamps(self.engine), status_history(self.engine))

    def load_context(self, commands: StationCommands | None = None) -> Any:
        """Site load management (docs/load-management.md); one per container."""
        if self._load is None:
            from save_server.infrastructure.load.context import (
                CommandProfileSender,
                LoadContext,
                projection_seed,
            )
            from save_server.infrastructure.load.lease import LEASES
            from save_server.infrastructure.load.store import SqlLoadStore
            from save_server.infrastructure.registry.store import SqlRegistryStore
            from save_server.service.load_allocation import LoadAllocation
            from save_server.service.load_management import LoadManagement
            store = SqlLoadStore(self.engine, on_commit=self._outbox_wake.set)
            from save_server.infrastructure.load import metrics as load_metrics
            from save_server.service.load_allocation import Settings as LoadSettings
            s = self.settings
            allocation = LoadAllocation(
                store, CommandProfileSender(commands) if commands is not None else None,
                settings=LoadSettings(
                    timedelta(seconds=s.load_rotation_slot_seconds), s.load_hysteresis_a,
                    timedelta(seconds=s.load_profile_min_interval_seconds)),
                on_allocation=load_metrics.record_allocation,
                on_profile=load_metrics.record_profile,
                seed=lambda: projection_seed(store, SqlStationReader(self.engine),
                                             SqlChargeReader(self.engine)),
                lease=LEASES[self.engine.dialect.name](self.engine))
            management = LoadManagement(store, SqlRegistryStore(self.engine),
                                        on_change=allocation.site_changed)
            self._load = LoadContext(management, allocation, store)
        return self._load

    def station_commands(self, bus: CommandBus | None = None) -> StationCommands:
        """Remote commands; the bus defaults to RabbitMQ (AMQP_URL) or none at all."""
        from save_server.infrastructure.commands.rabbitmq import RabbitCommandBus
        from save_server.infrastructure.commands.repository import SqlCommandLog
        from save_server.infrastructure.commands.unavailable import NoCommandBus

        s = self.settings
        if bus is None:
            bus = (RabbitCommandBus(s.amqp_url, s.amqp_command_exchange) if s.amqp_url
                   else NoCommandBus())
        return StationCommands(SqlChargeReader(self.engine), bus,
                               SqlCommandLog(self.engine, self.statements,
                                             self._outbox_wake.set),
                               s.save_server_command_timeout)

    def id_tag_enforcement(self, commands: StationCommands) -> Any:
        """Remote stops for tags over their concurrency limit or budget (API process)."""
        from save_server.infrastructure.id_tags.store import SqlIdTagStore
        from save_server.service.id_tag_enforcement import IdTagEnforcement

        async def remote_stop(station_id: str, transaction_id: str, reason: str) -> None:
            await commands.send(station_id, "remote-stop", {"transaction_id": transaction_id},
                                f"id-tags ({reason})")
        return IdTagEnforcement(self.id_tags(), SqlIdTagStore(self.engine), remote_stop,
                                self.settings.id_tag_budget_action)

    def start_id_tag_enforcement(self, app: FastAPI) -> Callable[[], None]:
        """Runs in the app's event loop (remote commands are async); returns its stop."""
        stopping = asyncio.Event()
        enforcement = self.id_tag_enforcement(app.state.station_commands)
        task = asyncio.get_running_loop().create_task(
            enforcement.run(self.settings.id_tag_enforcement_interval, stopping),
            name="save-server-id-tag-enforcement")
        self._enforcement_task = task
        return stopping.set

    def report_service(self, **overrides: Any) -> ReportService:
        """Charge reports by e-mail; tests override clock, sender, sleep, retry."""
        from save_server.infrastructure.reports import repositories as sql
        from save_server.infrastructure.reports.message import EmailReportRenderer
        from save_server.infrastructure.reports.smtp import SmtpEmailSender

        s = self.settings
        parts: dict[str, Any] = {
            "subscriptions": sql.SqlReportSubscriptionRepository(self.engine),
            "runs": sql.SqlReportRunRepository(self.engine, self.statements),
            "charges": sql.SqlReportCharges(self.engine),
            "renderer": EmailReportRenderer(s.smtp_from, s.report_attachment_compress_bytes),
            "sender": SmtpEmailSender(
                s.smtp_host, s.smtp_port, s.smtp_security, s.smtp_username,
                s.smtp_password.get_secret_value() if s.smtp_password else None, s.smtp_timeout),
            "retry": RetryPolicy(s.report_retry_attempts, s.report_retry_delay),
        }
        return ReportService(**{**parts, **overrides})

    def start_reports(self, stop: threading.Event, **overrides: Any) -> threading.Thread:
        """The report scheduler as a thread (after creating the default subscription)."""
        service = self.report_service(**{"sleep": stop.wait, **overrides})  # backoff ends on stop
        # (its liveness is this thread being alive: a run may legitimately take minutes)
        if self.settings.report_default_recipient_list:
            service.ensure_default_subscription(self.settings.report_default_recipient_list,
                                                self.settings.report_default_cron,
                                                self.settings.report_default_timezone)
        thread = threading.Thread(target=run_report_scheduler, name="save-server-reports",
                                  args=(service, stop, self.settings.report_scheduler_interval),
                                  daemon=True)
        thread.start()
        return thread

    def worker(self, stream_factory: Callable[[], EventStream],
               ordered: bool = False) -> EventWorker:
        return EventWorker(stream_factory, self.uow_factory,
                           batch_size=self.settings.save_server_prefetch, ordered=ordered)

    def rabbit_stream(self) -> EventStream:
        from save_server.infrastructure.messaging.rabbitmq import RabbitEventStream
        if not self.settings.amqp_url:
            raise RuntimeError("AMQP_URL is required for the worker in services mode")
        s = self.settings
        return RabbitEventStream(s.amqp_url, s.amqp_exchange, s.save_server_queue,
                                 HANDLED_TYPES, s.save_server_prefetch, s.save_server_shards)

    def start_worker_probes(self, worker: EventWorker, port: int) -> Any:
        """/metrics, /health (the consume loop ticked within LIVENESS_SECONDS), /ready (an
        open broker stream and the database) on `port`."""
        return start_probe_server(
            self.settings.save_server_host, port,
            lambda: worker.heartbeat.age() < LIVENESS_SECONDS,
            {"broker": lambda: worker.connected,
             "database": CachedCheck(self.database_ready, READY_CACHE_SECONDS)})

    def database_ready(self) -> bool:
        try:
            with self.engine.connect() as db:
                db.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def close(self) -> None:
        self.engine.dispose()


def bootstrap(settings: Settings | None = None,
              token_issuer: JwtTokenIssuer | None = None) -> Container:
    """Without AUTH_SIGNING_KEY_FILE the signing key lives in DATA_DIR (made on first use):
    the embedded mode and tests. `run_api` refuses to start that way."""
    from save_server.infrastructure.accounts.setup import embedded_issuer, issuer_from_file

    settings = settings or Settings()
    if token_issuer is None:
        token_issuer = (issuer_from_file(settings.auth_signing_key_file,
                                         settings.auth_previous_public_keys_file)
                        if settings.auth_signing_key_file else embedded_issuer(settings.data_dir))
    engine = make_engine(settings.resolved_database_url)
    return Container(settings, engine, STATEMENTS[engine.dialect.name], StationCache(),
                     token_issuer)


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


def run_worker(settings: Settings | None = None) -> None:
    """Consume RabbitMQ until SIGINT/SIGTERM, then finish the current event and stop."""
    settings = settings or Settings()
    configure_logging(settings.log_format, settings.log_level)
    container = bootstrap(settings)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
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
    settings = settings or Settings()
    configure_logging(settings.log_format, settings.log_level)
    container = bootstrap(settings)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    log.info("report scheduler started", interval=settings.report_scheduler_interval,
             metrics_port=settings.save_server_scheduler_metrics_port)
    try:
        thread = container.start_reports(stop)
        if settings.save_server_scheduler_metrics_port is not None:
            start_probe_server(settings.save_server_host,
                               settings.save_server_scheduler_metrics_port, thread.is_alive,
                               {"database": CachedCheck(container.database_ready,
                                                        READY_CACHE_SECONDS)})
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
                 settings: Settings | None = None, event_store_url: str | None = None) -> None:
        settings = settings or Settings()
        self.settings = settings.model_copy(update={
            "data_dir": pathlib.Path(data_dir), "database_url": None,
            "event_store_url": settings.event_store_url or event_store_url})
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
        await asyncio.to_thread(migrate, settings.resolved_database_url)
        self._container = container = bootstrap(settings)
        stream = EmbeddedEventStream(broker, settings.amqp_exchange, settings.save_server_queue,
                                     HANDLED_TYPES)
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
        worker.start()
        self._threads = [worker, container.start_reports(self._stop), *access, snapshots,
                         admitted, *id_tag_threads, local_lists, load_events]
        self._stop_enforcement = container.start_id_tag_enforcement(self._app)
        self._serving = asyncio.create_task(self._server.serve(), name="save-server-api")

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


__all__ = ["Container", "EmbeddedSaveServer", "bootstrap", "run_api", "run_migrate",
           "run_scheduler", "run_worker"]
