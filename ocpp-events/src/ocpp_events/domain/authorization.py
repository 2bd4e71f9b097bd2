"""Which id tags / id tokens may charge, decided from the gateway's copy of the id tag registry.

`decide` is the whole rule, pure and table-tested (docs/events.md, "Id tag registry events",
says what the copy holds). Order: malformed → Invalid; unknown → Invalid (or Accepted under the
`accept` policy, flagged so save-server can enroll the card); 2.0.1 token type differs →
Invalid; blocked → Blocked; expired → Expired; budget exhausted → Blocked; station outside the
tag's allowed stations/sites → NotAtThisLocation (1.6 has no such status: Invalid);
EVSE of a type the tag may not use → NotAllowedTypeEVSE (1.6: Invalid);
running charges ≥ the tag's limit → ConcurrentTx.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from ocpp_events.domain.id_tags import ChargeRef, IdTag

NO_AUTHORIZATION = "NoAuthorization"  # 2.0.1 IdTokenEnumType


class Status(StrEnum):
    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"
    CONCURRENT_TX = "ConcurrentTx"
    NOT_AT_THIS_LOCATION = "NotAtThisLocation"  # 2.0.1 only
    NOT_ALLOWED_TYPE_EVSE = "NotAllowedTypeEVSE"  # 2.0.1 only (the issue says "…TypeOfEVSE")

    def for_version(self, ocpp_version: str) -> str:
        """1.6 AuthorizationStatus has no location or EVSE type status: Invalid is the
        closest refusal."""
        if ocpp_version == "1.6" and self in (Status.NOT_AT_THIS_LOCATION,
                                              Status.NOT_ALLOWED_TYPE_EVSE):
            return Status.INVALID.value
        return self.value


class UnknownIdTags(StrEnum):
    REJECT = "reject"  # services mode, compose, Kubernetes
    ACCEPT = "accept"  # embedded `make run` default: any card charges, flagged for enrolment


@dataclass(frozen=True)
class TokenRequest:
    """An id token presented at a station (Authorize, StartTransaction, TransactionEvent)."""

    id_tag: str
    station_id: str
    site_id: str | None = None  # the station's site in the station registry copy
    token_type: str | None = None  # 2.0.1 IdTokenEnumType; None in 1.6
    # the declared types ("AC"/"DC") of the EVSE the token is presented at, or of the whole
    # station when no EVSE is named (Authorize); None: not declared, no restriction applies
    evse_types: frozenset[str] | None = None


@dataclass(frozen=True)
class Decision:
    status: Status
    group_id: str | None = None  # parentIdTag (1.6) / groupIdToken (2.0.1)
    expires_at: datetime | None = None  # expiryDate (1.6) / cacheExpiryDateTime (2.0.1)
    known: bool | None = None  # None: a fixed policy that does not look tags up
    unknown_accepted: bool = False  # accepted only because of the `accept` policy

    @property
    def accepted(self) -> bool:
        return self.status is Status.ACCEPTED


def well_formed(id_tag: str) -> bool:
    """Printable ASCII without spaces, as RFID UIDs, eMAIDs, key codes and MAC addresses are;
    the lengths (20 in 1.6, 36 in 2.0.1) are the OCPP schemas' and refused before this."""
    return (bool(id_tag) and id_tag.isascii() and id_tag.isprintable()  # "!" ... "~"
            and " " not in id_tag)


def decide(request: TokenRequest, tag: IdTag | None, running: int, now: datetime,
           unknown: UnknownIdTags) -> Decision:
    """`tag` is the registered tag (None: unknown); `running` its charges running now.

    A 2.0.1 `NoAuthorization` token (empty by the specification: charging without a card)
    is an unknown token: accepted only under the `accept` policy, and never enrolled."""
    no_token = request.token_type == NO_AUTHORIZATION
    if not well_formed(request.id_tag) and not no_token:
        return Decision(Status.INVALID, known=False)
    if tag is None:
        if unknown is UnknownIdTags.ACCEPT:
            return Decision(Status.ACCEPTED, known=False, unknown_accepted=not no_token)
        return Decision(Status.INVALID, known=False)
    return Decision(_status(request, tag, running, now), tag.group_id, tag.expires_at,
                    known=True)


def _status(request: TokenRequest, tag: IdTag, running: int, now: datetime) -> Status:
    if tag.token_type and request.token_type and request.token_type != tag.token_type:
        return Status.INVALID
    if tag.status == "blocked":
        return Status.BLOCKED
    if tag.expires_at is not None and now >= tag.expires_at:
        return Status.EXPIRED
    if tag.budget_exhausted:
        return Status.BLOCKED
    if not allowed_at(tag, request.station_id, request.site_id):
        return Status.NOT_AT_THIS_LOCATION
    if not allowed_on(tag, request.evse_types):
        return Status.NOT_ALLOWED_TYPE_EVSE
    if running >= tag.max_concurrent_charges:
        return Status.CONCURRENT_TX
    return Status.ACCEPTED


def allowed_at(tag: IdTag, station_id: str, site_id: str | None) -> bool:
    """No restriction: everywhere. Otherwise the listed stations plus the listed sites' ones."""
    if tag.station_ids is None and tag.site_ids is None:
        return True
    return (station_id in (tag.station_ids or ())
            or (site_id is not None and site_id in (tag.site_ids or ())))


def allowed_on(tag: IdTag, evse_types: frozenset[str] | None) -> bool:
    """Refused only when the EVSE's (or, station-wide, every declared EVSE's) type is known
    and none of them is one the tag may use."""
    return tag.evse_types is None or evse_types is None or bool(tag.evse_types & evse_types)


class AuthorizationPolicy(abc.ABC):
    """Answers id tokens; told about the charges it let start and the stops it saw, so that
    concurrent-charge limits hold before save-server's view catches up."""

    @abc.abstractmethod
    def authorize(self, request: TokenRequest, charge: ChargeRef | None = None) -> Decision:
        """`charge`: the charge the token is presented for, not counted against its limit
        (a TransactionEvent of a running transaction, a StartTransaction sent again)."""

    def charge_started(self, request: TokenRequest, charge: ChargeRef) -> None:
        return None

    def start_not_confirmed(self, request: TokenRequest, charge: ChargeRef) -> None:
        return None

    def charge_stopped(self, charge: ChargeRef, id_tag: str | None) -> None:
        return None


class FixedPolicy(AuthorizationPolicy):
    """Answers the same status for every id tag (`GATEWAY_AUTHORIZE_POLICY` accept-all /
    reject-all: the benchmarks' baseline and a kill switch)."""

    def __init__(self, status: str = "Accepted") -> None:
        self._decision = Decision(Status(status))

    def authorize(self, request: TokenRequest, charge: ChargeRef | None = None) -> Decision:
        return self._decision
