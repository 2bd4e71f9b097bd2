"""Id tags and their groups, and the checks every write goes through.

Token characters: OCPP types the token as a case-insensitive string (1.6 `CiString20Type`,
2.0.1 `IdTokenType.idToken`, `CiString36`) and says nothing more about its characters; readers
print it, stations put it in local lists and URLs carry it. We accept printable ASCII without
spaces (0x21-0x7E): every RFID UID, e-mobility id (eMAID) and MAC address fits, and nothing
that a station or a CSV could mangle (spaces, control or non-ASCII characters) gets in.
Because only ASCII is allowed, comparing `casefold()`ed values is exactly OCPP's
case-insensitive comparison.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

TOKEN_MAX_16 = 20  # 1.6 IdToken (CiString20): a tag without a token type must fit 1.6
TOKEN_MAX_201 = 36  # 2.0.1 IdTokenType.idToken (CiString36)
GROUP_ID_MAX = TOKEN_MAX_16  # the group id is the parentIdTag sent to 1.6 stations
LABEL_MAX = 200
TOKEN_CHARACTERS = re.compile(r"^[\x21-\x7e]+$")
TOKEN_TYPES = ("ISO14443", "ISO15693", "KeyCode", "Local", "MacAddress", "Central", "eMAID",
               "NoAuthorization")  # 2.0.1 IdTokenEnumType
# What an EVSE delivers, as the registration declares it per EVSE: a tag restricted to some
# gets 2.0.1 NotAllowedTypeEVSE (1.6: Invalid) at the others (docs/events.md).
EVSE_TYPES = ("AC", "DC")


class TagStatus(StrEnum):
    ACTIVE = "active"
    BLOCKED = "blocked"


class InvalidIdTag(ValueError):
    """A tag or group that breaks a rule; `field_name` names the offending field."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field_name = field_name


def token_key(token: str) -> str:
    """The value tokens are compared by (OCPP: case-insensitive)."""
    return token.casefold()


def check_token(token: str, token_type: str | None = None, field_name: str = "id_tag") -> str:
    if token_type is not None and token_type not in TOKEN_TYPES:
        raise InvalidIdTag("token_type", f"token_type is one of {', '.join(TOKEN_TYPES)}")
    limit = TOKEN_MAX_16 if token_type is None else TOKEN_MAX_201
    if not token:
        raise InvalidIdTag(field_name, f"{field_name} is empty")
    if len(token) > limit:
        why = ("without a token type a tag must fit OCPP 1.6" if token_type is None
               else "OCPP 2.0.1 idToken")
        raise InvalidIdTag(field_name, f"{field_name} is {len(token)} characters; at most "
                                       f"{limit} ({why})")
    if not TOKEN_CHARACTERS.match(token):
        raise InvalidIdTag(field_name, f"{field_name} may hold printable ASCII characters "
                                       "without spaces only")
    return token


@dataclass(frozen=True)
class IdTagGroup:
    """Several tags sharing one budget, e.g. an apartment's cards. `group_id` is the
    parentIdTag (1.6) / groupIdToken (2.0.1) the stations are told."""

    group_id: str
    label: str
    monthly_budget_kwh: float | None = None

    def document(self) -> dict[str, Any]:
        return {"group_id": self.group_id, "label": self.label,
                "monthly_budget_kwh": self.monthly_budget_kwh}


@dataclass(frozen=True)
class IdTag:
    """One card or token. `site_ids` / `station_ids` None: allowed everywhere."""

    id_tag: str
    token_type: str | None = None
    group_id: str | None = None
    holder: str | None = None
    status: TagStatus = TagStatus.ACTIVE
    expires_at: datetime | None = None
    site_ids: tuple[str, ...] | None = None
    station_ids: tuple[str, ...] | None = None
    max_concurrent_charges: int = 1
    monthly_budget_kwh: float | None = None
    revision: int = 0
    budget_exhausted: bool = False  # as last told to the gateways
    evse_types: tuple[str, ...] | None = None  # None: every type of EVSE

    @property
    def key(self) -> str:
        return token_key(self.id_tag)

    def changed(self, **changes: Any) -> IdTag:
        return replace(self, **changes)

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def document(self) -> dict[str, Any]:
        """The tag in the API, CSV export and the `id-tags.*` business events."""
        return {"id_tag": self.id_tag, "token_type": self.token_type,
                "group_id": self.group_id, "holder": self.holder, "status": str(self.status),
                "expires_at": _rfc3339(self.expires_at),
                "site_ids": list(self.site_ids) if self.site_ids is not None else None,
                "station_ids": list(self.station_ids) if self.station_ids is not None
                else None,
                "max_concurrent_charges": self.max_concurrent_charges,
                "monthly_budget_kwh": self.monthly_budget_kwh, "revision": self.revision,
                "evse_types": list(self.evse_types) if self.evse_types is not None else None}

    def registry_document(self) -> dict[str, Any]:
        """The tag object of the `id-tag-registry.*` events: what a gateway decides with."""
        return {"id_tag": self.id_tag, "token_type": self.token_type,
                "group_id": self.group_id, "status": str(self.status),
                "expires_at": _rfc3339(self.expires_at),
                "site_ids": list(self.site_ids) if self.site_ids is not None else None,
                "station_ids": list(self.station_ids) if self.station_ids is not None
                else None,
                "max_concurrent_charges": self.max_concurrent_charges,
                "budget_exhausted": self.budget_exhausted,
                "evse_types": list(self.evse_types) if self.evse_types is not None else None}


def _rfc3339(at: datetime | None) -> str | None:
    if at is None:
        return None
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _check_budget(value: float | None) -> None:
    if value is not None and not 0 < value <= 1_000_000:
        raise InvalidIdTag("monthly_budget_kwh", "a monthly budget is > 0 and ≤ 1000000 kWh")


def check_tag(tag: IdTag) -> IdTag:
    check_token(tag.id_tag, tag.token_type)
    if tag.group_id is not None:
        check_token(tag.group_id, None, "group_id")
    if tag.holder is not None and len(tag.holder) > LABEL_MAX:
        raise InvalidIdTag("holder", f"a holder label has at most {LABEL_MAX} characters")
    if not isinstance(tag.status, TagStatus):
        try:
            tag = tag.changed(status=TagStatus(tag.status))
        except ValueError as error:
            raise InvalidIdTag("status", "status is active or blocked") from error
    if tag.expires_at is not None and tag.expires_at.tzinfo is None:
        raise InvalidIdTag("expires_at", "expires_at needs a time zone offset (RFC 3339)")
    if not 1 <= tag.max_concurrent_charges <= 100:
        raise InvalidIdTag("max_concurrent_charges", "max_concurrent_charges is 1 to 100")
    _check_budget(tag.monthly_budget_kwh)
    if tag.evse_types is not None:
        unknown = [t for t in tag.evse_types if t not in EVSE_TYPES]
        if unknown or not tag.evse_types:
            raise InvalidIdTag("evse_types", "evse_types lists AC and/or DC (null: every type)")
        tag = tag.changed(evse_types=tuple(sorted(set(tag.evse_types))))
    return tag


def check_group(group: IdTagGroup) -> IdTagGroup:
    check_token(group.group_id, None, "group_id")
    if not group.label.strip() or len(group.label) > LABEL_MAX:
        raise InvalidIdTag("label", f"a group needs a label of 1-{LABEL_MAX} characters")
    _check_budget(group.monthly_budget_kwh)
    return group
