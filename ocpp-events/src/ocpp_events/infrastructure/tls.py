"""The gateway's TLS server side (security profiles 2 and 3).

TLS 1.2 or newer, forward-secret AEAD suites plus the RSA-GCM ones OCPP still lists for RSA
certificates; no CBC, SHA-1 or export suites. With a CA bundle the server asks for a client
certificate (optional, because profile-2 stations have none) and the TLS layer refuses one
that does not chain to that CA or has expired; which station a certificate belongs to is
checked later, at the HTTP upgrade (`domain.admission`).

The certificate and key are re-read without a restart (SIGHUP, or a change of either file's
modification time seen by `watch`): the new pair is first loaded into a scratch context, so a
half-copied or mismatched pair is refused and the old one stays in use. The live context is
then updated in place; connections already open keep their session.
"""

from __future__ import annotations

import asyncio
import pathlib
import ssl
from datetime import UTC, datetime

import structlog
from cryptography import x509

from ocpp_events.domain.admission import ClientCertificate

log = structlog.get_logger("ocpp_events.tls")
CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:RSA+AESGCM:!aNULL:!eNULL:!MD5:!SHA1"


def _context(cert_file: pathlib.Path, key_file: pathlib.Path,
             ca_file: pathlib.Path | None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    context.load_cert_chain(cert_file, key_file)
    if ca_file is not None:
        context.load_verify_locations(cafile=ca_file)
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


def certificate_expiry(cert_file: pathlib.Path) -> datetime:
    certificate = x509.load_pem_x509_certificate(cert_file.read_bytes())
    return certificate.not_valid_after_utc


class ServerTls:
    def __init__(self, cert_file: pathlib.Path, key_file: pathlib.Path,
                 ca_file: pathlib.Path | None = None) -> None:
        self.cert_file, self.key_file, self.ca_file = cert_file, key_file, ca_file
        self.context = _context(cert_file, key_file, ca_file)
        self.expires_at = certificate_expiry(cert_file)
        self._stamp = self._file_stamp()
        self.reloads = 0

    def _file_stamp(self) -> tuple[float, float]:
        return self.cert_file.stat().st_mtime, self.key_file.stat().st_mtime

    def days_to_expiry(self, now: datetime | None = None) -> float:
        return (self.expires_at - (now or datetime.now(UTC))).total_seconds() / 86400

    def reload(self) -> bool:
        """Load the current files; False (old certificate kept) when they do not load."""
        try:
            self._stamp = self._file_stamp()
            _context(self.cert_file, self.key_file, None)  # refuses a broken pair first
            expires_at = certificate_expiry(self.cert_file)
            self.context.load_cert_chain(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError, ValueError) as error:
            log.error("TLS certificate not reloaded; keeping the previous one",
                      cert_file=str(self.cert_file), error=repr(error))
            return False
        self.expires_at = expires_at
        self.reloads += 1
        log.info("TLS certificate reloaded", cert_file=str(self.cert_file),
                 expires_at=expires_at.isoformat())
        return True

    async def watch(self, interval: float) -> None:
        """Reload whenever a file's modification time changes (checked every `interval` s)."""
        while True:
            await asyncio.sleep(interval)
            try:
                changed = self._file_stamp() != self._stamp
            except OSError:  # being replaced right now: look again next time
                continue
            if changed:
                self.reload()


def client_certificate(ssl_object: ssl.SSLObject | None) -> ClientCertificate | None:
    """The subject of the verified client certificate, if the station sent one."""
    if ssl_object is None:
        return None
    peer = ssl_object.getpeercert()
    if not peer:
        return None
    names: dict[str, str] = {}
    for rdn in peer.get("subject", ()):
        for key, value in rdn:
            names.setdefault(key, value)
    return ClientCertificate(names.get("commonName"), names.get("organizationName"))
