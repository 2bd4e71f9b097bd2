"""`EmailSender` over SMTP (smtplib): implicit TLS, STARTTLS or plain, optional AUTH."""

from __future__ import annotations

import smtplib
import ssl
from enum import StrEnum

from save_server.domain.reports import EmailDeliveryError, EmailMessageSpec, EmailSender
from save_server.infrastructure.reports.message import to_mime


class SmtpSecurity(StrEnum):
    STARTTLS = "starttls"  # plain connection upgraded to TLS; refused if the server can't
    SSL = "ssl"  # TLS from the first byte (port 465)
    NONE = "none"  # no TLS: only for a relay on a trusted network


class SmtpEmailSender(EmailSender):
    """One connection per message. TLS verifies the server's certificate and host name against
    `ssl_context` (default: the system's trusted CAs)."""

    def __init__(self, host: str, port: int, security: SmtpSecurity = SmtpSecurity.STARTTLS,
                 username: str | None = None, password: str | None = None,
                 timeout: float = 30.0, ssl_context: ssl.SSLContext | None = None) -> None:
        self.host, self.port, self.security = host, port, SmtpSecurity(security)
        self.username, self.password, self.timeout = username, password, timeout
        self._context = ssl_context

    def send(self, message: EmailMessageSpec) -> None:
        mime = to_mime(message)
        try:
            with self._connect() as smtp:
                if self.security is SmtpSecurity.STARTTLS:
                    smtp.starttls(context=self._tls())
                    smtp.ehlo()
                if self.username:
                    smtp.login(self.username, self.password or "")
                refused = smtp.send_message(mime, message.sender, list(message.recipients))
        except (smtplib.SMTPException, OSError) as error:
            raise EmailDeliveryError(f"SMTP {self.host}:{self.port}: {_describe(error)}"
                                     ) from error
        if refused:
            raise EmailDeliveryError(f"SMTP {self.host}:{self.port} refused {refused}")

    def _connect(self) -> smtplib.SMTP:
        if self.security is SmtpSecurity.SSL:
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                    context=self._tls())
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        smtp.ehlo()
        return smtp

    def _tls(self) -> ssl.SSLContext:
        return self._context or ssl.create_default_context()


def _describe(error: BaseException) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        text = error.smtp_error.decode(errors="replace") if isinstance(
            error.smtp_error, bytes) else str(error.smtp_error)
        return f"{error.smtp_code} {text}"
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return f"recipients refused {error.recipients}"
    return f"{type(error).__name__}: {error}"
