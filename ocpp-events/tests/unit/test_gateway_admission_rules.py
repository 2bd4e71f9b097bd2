"""The admission rules (domain.admission), table-driven: profiles 0-3, unknown stations,
Basic credentials, and the re-check a registry change triggers."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from ocpp_events.domain.admission import (
    AdmissionPolicy,
    Admitted,
    BadCredentials,
    ClientCertificate,
    Handshake,
    Reason,
    Refused,
    UnknownStations,
    basic_credentials,
)
from ocpp_events.domain.station_registry import PasswordHash, RegisteredStation

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
PASSWORD = "0123456789abcdef0123456789abcdef"
OTHER_PASSWORD = "fedcba9876543210fedcba9876543210"
SALT = bytes(range(16))


def basic(user: str, password: str | bytes) -> str:
    raw = password if isinstance(password, bytes) else password.encode()
    return "Basic " + base64.b64encode(user.encode() + b":" + raw).decode()


def station(profile: int, **changes) -> RegisteredStation:
    base = RegisteredStation("CP-1", profile, revision=1,
                             passwords=(PasswordHash.of(PASSWORD.encode(), SALT),))
    return replace(base, **changes)


def handshake(**changes) -> Handshake:
    base = Handshake("CP-1", tls=False, authorization=None, certificate=None,
                     offered_versions=("1.6",))
    return replace(base, **changes)


POLICY = AdmissionPolicy(UnknownStations.REJECT, organization="SAVE")
CERT = ClientCertificate("CP-1", "SAVE")

CASES = [
    # (what, station, handshake, expected refusal reason or None for admitted)
    ("profile 0 needs nothing", station(0), handshake(), None),
    ("profile 0 ignores credentials", station(0), handshake(authorization="junk"), None),
    ("profile 1 with the password", station(1), handshake(authorization=basic("CP-1", PASSWORD)),
     None),
    ("profile 1 also over wss", station(1),
     handshake(tls=True, authorization=basic("CP-1", PASSWORD)), None),
    ("missing Authorization", station(1), handshake(), Reason.MISSING_CREDENTIALS),
    ("wrong password", station(1), handshake(authorization=basic("CP-1", OTHER_PASSWORD)),
     Reason.WRONG_PASSWORD),
    ("username is not the station id", station(1),
     handshake(authorization=basic("CP-2", PASSWORD)), Reason.WRONG_USERNAME),
    ("not Basic", station(1), handshake(authorization="Bearer abc"),
     Reason.MALFORMED_CREDENTIALS),
    ("not base64", station(1), handshake(authorization="Basic !!!!"),
     Reason.MALFORMED_CREDENTIALS),
    ("no colon", station(1),
     handshake(authorization="Basic " + base64.b64encode(b"CP-1").decode()),
     Reason.MALFORMED_CREDENTIALS),
    ("over-long header", station(1), handshake(authorization="Basic " + "A" * 400),
     Reason.MALFORMED_CREDENTIALS),
    ("password too short", station(1), handshake(authorization=basic("CP-1", "short")),
     Reason.WRONG_PASSWORD),
    ("password too long", station(1), handshake(authorization=basic("CP-1", "x" * 41)),
     Reason.WRONG_PASSWORD),
    ("profile 2 over plain ws", station(2), handshake(authorization=basic("CP-1", PASSWORD)),
     Reason.TLS_REQUIRED),
    ("profile 2 over wss", station(2),
     handshake(tls=True, authorization=basic("CP-1", PASSWORD)), None),
    ("profile 3 without certificate", station(3), handshake(tls=True),
     Reason.CLIENT_CERTIFICATE_REQUIRED),
    ("profile 3 over plain ws", station(3), handshake(certificate=CERT), Reason.TLS_REQUIRED),
    ("profile 3 with its certificate", station(3), handshake(tls=True, certificate=CERT), None),
    ("certificate of another station", station(3),
     handshake(tls=True, certificate=ClientCertificate("CP-2", "SAVE")),
     Reason.CERTIFICATE_STATION_MISMATCH),
    ("certificate of another operator", station(3),
     handshake(tls=True, certificate=ClientCertificate("CP-1", "Evil")),
     Reason.CERTIFICATE_ORGANIZATION_MISMATCH),
    ("the station's own organisation rule wins", station(3, certificate_organization="Evil"),
     handshake(tls=True, certificate=ClientCertificate("CP-1", "Evil")), None),
    ("disabled", station(0, enabled=False), handshake(), Reason.STATION_DISABLED),
    ("registered for another OCPP version", station(0, ocpp_version="2.0.1"), handshake(),
     Reason.OCPP_VERSION_NOT_ALLOWED),
    ("unknown under reject", None, handshake(), Reason.UNKNOWN_STATION),
]


@pytest.mark.parametrize(("what", "registered", "attempt", "refused"), CASES,
                         ids=[case[0] for case in CASES])
def test_admission(what, registered, attempt, refused) -> None:
    decision = POLICY.decide(attempt, registered, NOW)
    if refused is None:
        assert isinstance(decision, Admitted), decision
    else:
        assert isinstance(decision, Refused) and decision.reason is refused, decision
        assert PASSWORD not in decision.detail


@pytest.mark.parametrize(("policy", "pending"), [(UnknownStations.AUTO_REGISTER, False),
                                                 (UnknownStations.PENDING, True)])
def test_unknown_stations_are_admitted_as_profile_0_by_policy(policy, pending) -> None:
    decision = AdmissionPolicy(policy, None).decide(handshake(), None, NOW)
    assert isinstance(decision, Admitted)
    assert (decision.registered, decision.security_profile, decision.pending) == (
        False, 0, pending)


def test_a_password_in_its_grace_period_is_accepted_and_reported_as_previous() -> None:
    rotated = station(1, passwords=(PasswordHash.of(OTHER_PASSWORD.encode(), SALT),
                                    PasswordHash.of(PASSWORD.encode(), SALT,
                                                    NOW + timedelta(hours=1))))
    decision = POLICY.decide(handshake(authorization=basic("CP-1", PASSWORD)), rotated, NOW)
    assert isinstance(decision, Admitted) and decision.credential == "previous-password"
    later = POLICY.decide(handshake(authorization=basic("CP-1", PASSWORD)), rotated,
                          NOW + timedelta(hours=2))
    assert isinstance(later, Refused) and later.reason is Reason.WRONG_PASSWORD


def test_basic_credentials_keep_the_password_bytes_and_split_at_the_first_colon() -> None:
    assert basic_credentials(basic("CP-1", b"a:b\xff" * 5)) == ("CP-1", b"a:b\xff" * 5)
    with pytest.raises(BadCredentials):
        basic_credentials("Basic " + base64.b64encode(b"\xff:x").decode())


def recheck(admitted_by: RegisteredStation, attempt: Handshake,
            now_registered: RegisteredStation | None, at: datetime = NOW) -> str | None:
    admitted = POLICY.decide(attempt, admitted_by, NOW)
    assert isinstance(admitted, Admitted)
    return POLICY.still_admitted(admitted, now_registered, at)


def test_a_registry_change_keeps_or_ends_a_connection() -> None:
    with_password = handshake(tls=True, authorization=basic("CP-1", PASSWORD))
    assert recheck(station(2), with_password, station(2)) is None
    assert recheck(station(2), with_password, None) == "station deregistered"
    assert recheck(station(2), with_password, station(2, enabled=False)) == "station disabled"
    rotated_out = station(2, passwords=(PasswordHash.of(OTHER_PASSWORD.encode(), SALT),))
    assert recheck(station(2), with_password, rotated_out) == "password no longer valid"
    in_grace = station(2, passwords=(PasswordHash.of(OTHER_PASSWORD.encode(), SALT),
                                     PasswordHash.of(PASSWORD.encode(), SALT,
                                                     NOW + timedelta(hours=1))))
    assert recheck(station(2), with_password, in_grace) is None
    assert recheck(station(2), with_password, in_grace, NOW + timedelta(hours=1)) == (
        "password no longer valid")
    assert recheck(station(0), handshake(), station(1)) == (
        "security profile 1 requires a password")
    assert recheck(station(1), handshake(authorization=basic("CP-1", PASSWORD)),
                   station(2)) == "security profile 2 requires wss://"


def test_an_unknown_station_admitted_by_policy_stays_until_registered_otherwise() -> None:
    pending = AdmissionPolicy(UnknownStations.PENDING, None)
    admitted = pending.decide(handshake(), None, NOW)
    assert isinstance(admitted, Admitted)
    assert pending.still_admitted(admitted, None, NOW) is None
    assert pending.still_admitted(admitted, station(0), NOW) is None
    assert pending.still_admitted(admitted, station(1), NOW) == (
        "security profile 1 requires a password")
