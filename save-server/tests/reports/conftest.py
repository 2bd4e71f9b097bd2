"""Real servers for the report tests: a fresh PostgreSQL database per test (copied from a
migrated template), a real SMTP server (aiosmtpd) per test, an injected clock."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from save_server.bootstrap import Container, bootstrap
from save_server.config import Settings
from save_server.infrastructure.db.engine import migrate
from save_server.infrastructure.reports.smtp import SmtpEmailSender, SmtpSecurity
from save_server.infrastructure.translation import parse_envelope, translate
from save_server.service.ingest import ingest_event
from save_server.service.reports import ReportService, RetryPolicy
from tests.support.ports import free_port


def missing(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: a missing server is a failure)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def report_template_db(postgres_database: Callable[..., Any]) -> Iterator[str]:
    """A database migrated to head once per run; each test copies it (CREATE … TEMPLATE)."""
    with postgres_database("save_reports_tpl") as url:
        migrate(url)
        yield str(make_url(url).database)


@pytest.fixture
def pg_url(report_template_db: str, postgres_database: Callable[..., Any]) -> Iterator[str]:
    with postgres_database("save_reports", template=report_template_db) as url:
        yield url


@pytest.fixture
def container(pg_url: str, tmp_path: Path) -> Iterator[Container]:
    built = bootstrap(Settings(database_url=pg_url, data_dir=tmp_path))
    yield built
    built.close()


class Clock:
    """The injected clock: time moves only when a test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 1, 12, 0, tzinfo=UTC))


class Sleeps(list[float]):
    """Records the backoff delays instead of sleeping them."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


# -- the SMTP server -------------------------------------------------------------------
@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool
    login: bytes | None

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.content, policy=policy.default)  # type: ignore[return-value]


@dataclass
class Mailbox:
    """aiosmtpd handler: keeps every accepted message; `refuse` answers DATA with an error."""

    received: list[Received] = field(default_factory=list)
    refuse: str | None = None
    refused: int = 0
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            import asyncio
            await asyncio.sleep(self.delay)
        if self.refuse:
            self.refused += 1
            return self.refuse
        auth = getattr(session, "auth_data", None)
        tls = (session.ssl is not None
               or server.transport.get_extra_info("ssl_object") is not None)
        with self.lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                          envelope.original_content or envelope.content,
                                          tls, getattr(auth, "login", None)))
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    host: str
    port: int
    mailbox: Mailbox
    client_tls: ssl.SSLContext | None = None

    def sender(self, security: SmtpSecurity = SmtpSecurity.NONE, username: str | None = None,
               password: str | None = None) -> SmtpEmailSender:
        return SmtpEmailSender(self.host, self.port, security, username, password, timeout=10,
                               ssl_context=self.client_tls)




@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the openssl CLI for this run."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    try:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", str(key), "-out", str(cert), "-days", "1",
                        "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                       check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.CalledProcessError) as error:
        missing(f"cannot make a test certificate with openssl: {error}")
    return cert, key


@pytest.fixture
def smtp_server(certificate: tuple[Path, Path]) -> Iterator[Callable[..., SmtpServer]]:
    """Starts aiosmtpd servers: plain, STARTTLS (`tls=True`), implicit TLS (`implicit=True`),
    with an authenticator (`users={login: password}`)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    controllers: list[Any] = []
    cert, key = certificate

    def start(tls: bool = False, implicit: bool = False,
              users: dict[str, str] | None = None) -> SmtpServer:
        mailbox = Mailbox()
        server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_tls.load_cert_chain(cert, key)
        client_tls = ssl.create_default_context(cafile=str(cert))
        options: dict[str, Any] = {}
        if tls:
            options.update(tls_context=server_tls, require_starttls=True)
        if implicit:
            options.update(ssl_context=server_tls)
        if users is not None:
            def authenticate(server: Any, session: Any, envelope: Any, mechanism: str,
                             auth_data: Any) -> AuthResult:
                ok = (isinstance(auth_data, LoginPassword)
                      and users.get(auth_data.login.decode()) == auth_data.password.decode())
                return AuthResult(success=ok, handled=False, auth_data=auth_data)
            options.update(authenticator=authenticate, auth_required=True,
                           auth_require_tls=True)
        port = free_port()
        controller = Controller(mailbox, hostname="127.0.0.1", port=port, **options)
        controller.start()
        controllers.append(controller)
        return SmtpServer("127.0.0.1", port, mailbox, client_tls)

    yield start
    for controller in controllers:
        controller.stop()


# -- charges through the service -------------------------------------------------------
def feed(container: Container, *events: dict[str, Any]) -> None:
    """Apply gateway events the way the worker does (translation → ingest use case)."""
    for event in events:
        envelope = parse_envelope(json.dumps(event).encode())
        assert ingest_event(container.uow_factory, str(envelope.event_id), envelope.type,
                            translate(envelope))


def report_service(container: Container, clock: Clock, server: SmtpServer,
                   sleeps: Sleeps | None = None, **overrides: Any) -> ReportService:
    defaults: dict[str, Any] = {
        "clock": clock, "sender": server.sender(), "sleep": sleeps if sleeps is not None
        else Sleeps(), "retry": RetryPolicy(attempts=3, first_delay=0.5, factor=2)}
    return container.report_service(**{**defaults, **overrides})


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def feed_events(container: Container) -> Callable[..., None]:
    return lambda *events: feed(container, *events)


@pytest.fixture
def make_reports(container: Container, clock: Clock,
                 sleeps: Sleeps) -> Callable[..., ReportService]:
    """A ReportService on this test's database and clock, sending to `server`."""
    return lambda server, **overrides: report_service(container, clock, server, sleeps,
                                                      **overrides)
