"""Who may read and replay events, decided from a local copy of save-server's account events.

save-server owns accounts and API keys and publishes every change of them as an `accounts.*`
event (docs/events.md). The store keeps those events like any other; this copy is rebuilt from
them, so the store authenticates callers without asking save-server anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from event_store.domain.events import parse_date

ACCOUNT_EVENT_TYPES = ("accounts.account-created", "accounts.account-updated",
                       "accounts.account-deleted", "accounts.api-key-created",
                       "accounts.api-key-revoked", "accounts.signed-out")


class Permission(StrEnum):
    EVENTS_READ = "events:read"
    EVENTS_REPLAY = "events:replay"


# The event-store's rows of save-server's role table (docs/api.md, "Roles").
ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "admin": frozenset(Permission),
    "operator": frozenset({Permission.EVENTS_READ}),
    "technician": frozenset(),
    "viewer": frozenset(),
}
ROLE_RANK = {"viewer": 0, "technician": 1, "operator": 2, "admin": 3}


@dataclass(frozen=True)
class Caller:
    account_id: str
    email: str
    role: str
    credential: str

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS.get(self.role, frozenset())

    @property
    def audit_name(self) -> str:
        return f"{self.email} ({self.credential})"


@dataclass
class KnownAccount:
    email: str
    role: str
    enabled: bool


@dataclass
class KnownKey:
    account_id: str
    role: str
    secret_hash: str
    expires_at: datetime | None
    revoked: bool = False


@dataclass
class CredentialCopy:
    """Accounts, keys and ended sessions as the applied account events describe them."""

    accounts: dict[str, KnownAccount] = field(default_factory=dict)
    keys: dict[str, KnownKey] = field(default_factory=dict)
    ended_sessions: dict[str, datetime] = field(default_factory=dict)

    def apply(self, event_type: str, payload: Mapping[str, Any]) -> None:
        handler = _HANDLERS.get(event_type)
        if handler is not None:
            handler(self, payload)

    def key_role(self, key: KnownKey) -> str:
        """A key never grants more than its owner's current role."""
        owner = self.accounts[key.account_id].role
        return key.role if ROLE_RANK.get(key.role, 0) <= ROLE_RANK.get(owner, 0) else owner


def _account(copy: CredentialCopy, payload: Mapping[str, Any]) -> None:
    copy.accounts[str(payload["account_id"])] = KnownAccount(
        str(payload["email"]), str(payload["role"]), bool(payload["enabled"]))


def _account_deleted(copy: CredentialCopy, payload: Mapping[str, Any]) -> None:
    account_id = str(payload["account_id"])
    copy.accounts.pop(account_id, None)
    for key_id in [k for k, key in copy.keys.items() if key.account_id == account_id]:
        del copy.keys[key_id]


def _key(copy: CredentialCopy, payload: Mapping[str, Any]) -> None:
    expires = payload.get("expires_at")
    copy.keys[str(payload["key_id"])] = KnownKey(
        str(payload["account_id"]), str(payload["role"]), str(payload["secret_hash"]),
        parse_date(expires) if expires else None, payload.get("revoked_at") is not None)


def _key_revoked(copy: CredentialCopy, payload: Mapping[str, Any]) -> None:
    key = copy.keys.get(str(payload["key_id"]))
    if key is not None:
        key.revoked = True


def _signed_out(copy: CredentialCopy, payload: Mapping[str, Any]) -> None:
    copy.ended_sessions[str(payload["session_id"])] = parse_date(str(payload["expires_at"]))


_HANDLERS = {
    "accounts.account-created": _account,
    "accounts.account-updated": _account,
    "accounts.account-deleted": _account_deleted,
    "accounts.api-key-created": _key,
    "accounts.api-key-revoked": _key_revoked,
    "accounts.signed-out": _signed_out,
}
