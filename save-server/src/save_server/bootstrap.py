"""The composition root: builds the object graph from `Settings` and picks the adapters.
The process entry points (signals, uvicorn, loops, the embedded service) are in `entrypoints`."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog
from fastapi import FastAPI
from sqlalchemy import Engine, text

from save_server.config import Settings
from save_server.domain.ports import EventPublisher, EventStream, UnitOfWork
from save_server.domain.station_commands import CommandBus
from save_server.infrastructure.accounts.tokens import JwtTokenIssuer
from save_server.infrastructure.api.app import create_app
from save_server.infrastructure.api.dependencies import AccessControl, ApiDependencies
from save_server.infrastructure.db.engine import make_engine
from save_server.infrastructure.db.postgresql import PostgresStatements
from save_server.infrastructure.db.readers import SqlChargeReader, SqlStationReader
from save_server.infrastructure.db.sqlite import SqliteStatements
from save_server.infrastructure.db.statements import SqlStatements
from save_server.infrastructure.db.station_cache import StationCache
from save_server.infrastructure.db.uow import SqlUnitOfWork
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

    def _id_tag_group(self, id_tag: str) -> str | None:
        from save_server.infrastructure.id_tags.store import SqlIdTagStore

        tag = SqlIdTagStore(self.engine).tag(id_tag)
        return None if tag is None else tag.group_id

    def _id_tag_group_exists(self, group_id: str) -> bool:
        from save_server.infrastructure.id_tags.store import SqlIdTagStore

        return SqlIdTagStore(self.engine).group(group_id) is not None

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
                    timedelta(seconds=s.load_profile_min_interval_seconds),
                    sweep=timedelta(seconds=s.load_sweep_seconds),
                    measurement_threshold_a=s.load_measurement_threshold_a,
                    profile_lease=timedelta(seconds=s.load_profile_lease_seconds)
                    if s.load_profile_lease_seconds > 0 else None,
                    station_caps=s.load_station_max_profile),
                on_allocation=load_metrics.record_allocation,
                on_profile=load_metrics.record_profile,
                seed=lambda only: projection_seed(store, SqlStationReader(self.engine),
                                                  SqlChargeReader(self.engine), only),
                lease=LEASES[self.engine.dialect.name](self.engine),
                group_of=self._id_tag_group)
            management = LoadManagement(store, SqlRegistryStore(self.engine),
                                        group_exists=self._id_tag_group_exists,
                                        on_change=allocation.site_changed,
                                        on_measured=allocation.building_measured)
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
        from save_server.service.id_tag_report_usage import IdTagGroupUsage

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
            "group_usage": IdTagGroupUsage(self.id_tags()),
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

    def start_scheduler_probes(self, scheduler: threading.Thread, port: int) -> Any:
        """/metrics, /health (the scheduler thread is alive: a run may take minutes), /ready
        (the database) on `port`."""
        return start_probe_server(
            self.settings.save_server_host, port, scheduler.is_alive,
            {"database": CachedCheck(self.database_ready, READY_CACHE_SECONDS)})

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



__all__ = ["Container", "bootstrap"]
