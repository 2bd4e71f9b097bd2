"""Who may open an OCPP connection: the rules of security profiles 0-3 and unknown stations.

Decided once per handshake from what the station presented (path, Authorization header, TLS,
client certificate) and the local copy of the registry; nothing here runs per message.
"""

from __future__ import annotations

import base64
import binascii
import enum
from dataclasses import dataclass, replace
from datetime import datetime

from ocpp_events.domain.station_registry import PasswordHash, RegisteredStation

MIN_PASSWORD_BYTES, MAX_PASSWORD_BYTES = 16, 40  # OCPP: 16-40 characters
MAX_AUTHORIZATION_LENGTH = 256  # "Basic " + base64 of a 48-char id, ':' and 40 bytes fits


class UnknownStations(enum.Enum):
    REJECT = "reject"
    AUTO_REGISTER = "auto-register"  # admitted as profile 0
    PENDING = "pending"  # admitted; BootNotification answered Pending until registered


class Reason(enum.Enum):
    """Why a handshake was refused, with the HTTP status it is answered with."""

    UNKNOWN_STATION = ("unknown-station", 404)
    STATION_DISABLED = ("station-disabled", 403)
    MISSING_CREDENTIALS = ("missing-credentials", 401)
    MALFORMED_CREDENTIALS = ("malformed-credentials", 401)
    WRONG_USERNAME = ("wrong-username", 401)
    WRONG_PASSWORD = ("wrong-password", 401)
    TLS_REQUIRED = ("tls-required", 403)
    CLIENT_CERTIFICATE_REQUIRED = ("client-certificate-required", 403)
    CERTIFICATE_STATION_MISMATCH = ("certificate-station-mismatch", 403)
    CERTIFICATE_ORGANIZATION_MISMATCH = ("certificate-organization-mismatch", 403)
    OCPP_VERSION_NOT_ALLOWED = ("ocpp-version-not-allowed", 403)
    RATE_LIMITED = ("rate-limited", 429)

    @property
    def code(self) -> str:
        return self.value[0]

    @property
    def status(self) -> int:
        return self.value[1]


@dataclass(frozen=True)
class ClientCertificate:
    """The subject of a client certificate the TLS layer already verified against the CA."""

    common_name: str | None
    organization: str | None


@dataclass(frozen=True)
class Handshake:
    station_id: str
    tls: bool
    authorization: str | None  # the raw header; never logged
    certificate: ClientCertificate | None
    offered_versions: tuple[str, ...]  # e.g. ("1.6", "2.0.1")


@dataclass(frozen=True)
class Admitted:
    """How a connection got in; kept with it so a registry change can re-check it."""

    station_id: str
    registered: bool
    security_profile: int  # 0 for an unknown station admitted by policy
    tls: bool
    password: PasswordHash | None = None
    certificate: ClientCertificate | None = None
    pending: bool = False
    ocpp_version: str | None = None  # the version the registry allows, when it names one

    @property
    def credential(self) -> str:
        if self.password is not None:
            return "password" if self.password.valid_until is None else "previous-password"
        return "client-certificate" if self.certificate is not None else "none"


@dataclass(frozen=True)
class Refused:
    reason: Reason
    detail: str  # safe to log and publish: never a secret
    retry_after: float | None = None  # seconds, for RATE_LIMITED


class BadCredentials(ValueError):
    pass


def basic_credentials(header: str) -> tuple[str, bytes]:
    """(username, password bytes) of an `Authorization: Basic ...` header."""
    if len(header) > MAX_AUTHORIZATION_LENGTH:
        raise BadCredentials("Authorization header too long")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        raise BadCredentials("Authorization is not HTTP Basic")
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError) as error:
        raise BadCredentials("Basic credentials are not base64") from error
    username, colon, password = decoded.partition(b":")
    if not colon:
        raise BadCredentials("Basic credentials lack ':'")
    try:
        return username.decode("utf-8"), password
    except UnicodeDecodeError as error:
        raise BadCredentials("username is not UTF-8") from error


class AdmissionPolicy:
    def __init__(self, unknown_stations: UnknownStations, organization: str | None) -> None:
        self.unknown_stations = unknown_stations
        self.organization = organization  # expected O of client certificates

    def decide(self, handshake: Handshake, station: RegisteredStation | None,
               now: datetime) -> Admitted | Refused:
        if station is None:
            return self._unknown(handshake)
        if not station.enabled:
            return Refused(Reason.STATION_DISABLED, "station is disabled in the registry")
        version = station.ocpp_version
        if version is not None and version not in handshake.offered_versions:
            return Refused(Reason.OCPP_VERSION_NOT_ALLOWED,
                           f"station is registered for OCPP {version}")
        profile = station.security_profile
        admitted = Admitted(handshake.station_id, True, profile, handshake.tls,
                            ocpp_version=version)
        if profile == 0:
            return admitted
        if profile >= 2 and not handshake.tls:
            return Refused(Reason.TLS_REQUIRED, f"security profile {profile} requires wss://")
        if profile == 3:
            refusal = self._certificate_refusal(handshake, station)
            return refusal or _with(admitted, certificate=handshake.certificate)
        return self._password(handshake, station, admitted, now)

    def still_admitted(self, admitted: Admitted, station: RegisteredStation | None,
                       now: datetime) -> str | None:
        """None while `admitted` still holds under the registry's `station`; else why not."""
        if station is None:
            return "station deregistered" if admitted.registered else None
        if not station.enabled:
            return "station disabled"
        profile = station.security_profile
        if profile == 0:
            return None
        if profile >= 2 and not admitted.tls:
            return f"security profile {profile} requires wss://"
        if profile == 3:
            if admitted.certificate is None:
                return "security profile 3 requires a client certificate"
            return None
        current = admitted.password
        if current is None:
            return f"security profile {profile} requires a password"
        if not any(
                (p.salt, p.digest) == (current.salt, current.digest) and p.valid_at(now)
                for p in station.passwords):
            return "password no longer valid"
        return None

    def _unknown(self, handshake: Handshake) -> Admitted | Refused:
        if self.unknown_stations is UnknownStations.REJECT:
            return Refused(Reason.UNKNOWN_STATION, "station is not registered")
        pending = self.unknown_stations is UnknownStations.PENDING
        return Admitted(handshake.station_id, False, 0, handshake.tls, pending=pending)

    def _password(self, handshake: Handshake, station: RegisteredStation,
                  admitted: Admitted, now: datetime) -> Admitted | Refused:
        if handshake.authorization is None:
            return Refused(Reason.MISSING_CREDENTIALS, "HTTP Basic credentials required")
        try:
            username, password = basic_credentials(handshake.authorization)
        except BadCredentials as error:
            return Refused(Reason.MALFORMED_CREDENTIALS, str(error))
        if username != handshake.station_id:
            return Refused(Reason.WRONG_USERNAME, "username must be the station id")
        if not MIN_PASSWORD_BYTES <= len(password) <= MAX_PASSWORD_BYTES:
            return Refused(Reason.WRONG_PASSWORD, "password length outside 16-40")
        matched = station.password_matching(password, now)
        if matched is None:
            return Refused(Reason.WRONG_PASSWORD, "password does not match")
        return _with(admitted, password=matched)

    def _certificate_refusal(self, handshake: Handshake,
                             station: RegisteredStation) -> Refused | None:
        certificate = handshake.certificate
        if certificate is None:
            return Refused(Reason.CLIENT_CERTIFICATE_REQUIRED,
                           "security profile 3 requires a client certificate")
        if certificate.common_name != handshake.station_id:
            return Refused(Reason.CERTIFICATE_STATION_MISMATCH,
                           "certificate CN is not the station id")
        expected = station.certificate_organization or self.organization
        if expected is not None and certificate.organization != expected:
            return Refused(Reason.CERTIFICATE_ORGANIZATION_MISMATCH,
                           "certificate O is not the operator's organisation")
        return None


def _with(admitted: Admitted, **changes: object) -> Admitted:
    return replace(admitted, **changes)  # type: ignore[arg-type]
