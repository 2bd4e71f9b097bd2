"""Use cases of staff accounts and API keys. Every change commits with its `accounts.*` event."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from save_server.domain.access import Principal, Role, role_within
from save_server.domain.accounts import (
    Account,
    AccountStore,
    ApiKey,
    InvalidAccountData,
    PasswordHasher,
    SignInSession,
    UnknownAccount,
    normalise_email,
)
from save_server.domain.business_events import BusinessEvent
from save_server.service.authentication import Authenticator, Clock, new_api_key, utc_now

MIN_PASSWORD = 12
MAX_PASSWORD = 256


class AccountNotFound(LookupError):
    pass


class ApiKeyNotFound(LookupError):
    pass


class NotAllowed(Exception):
    """A known caller asking for more than its role allows (HTTP 403)."""


@dataclass(frozen=True)
class CreatedKey:
    key: ApiKey
    secret: str  # the whole key, shown once


def account_document(account: Account) -> dict[str, Any]:
    """An account in events and answers: never its password hash."""
    return {"account_id": account.account_id, "email": account.email,
            "display_name": account.display_name, "role": account.role.value,
            "enabled": account.enabled,
            "station_scope": sorted(account.station_scope)
            if account.station_scope is not None else None,
            "site_scope": sorted(account.site_scope) if account.site_scope is not None else None,
            "created_at": account.created_at.isoformat(),
            "last_login_at": account.last_login_at.isoformat() if account.last_login_at else None}


def key_document(key: ApiKey) -> dict[str, Any]:
    """An API key's public part (the secret's digest travels only in its creation event)."""
    return {"key_id": key.key_id, "account_id": key.account_id, "name": key.name,
            "role": key.role.value, "created_at": key.created_at.isoformat(),
            "expires_at": key.expires_at.isoformat() if key.expires_at else None,
            "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
            "last_used_at": key.last_used_at.isoformat() if key.last_used_at else None}


def session_ended(session: SignInSession, by: str, now: datetime
                  ) -> tuple[SignInSession, BusinessEvent]:
    """The ended session and its `accounts.signed-out` event."""
    return replace(session, ended_at=now), BusinessEvent(
        "accounts.signed-out", {"account_id": session.account_id,
                                "session_id": session.session_id,
                                "expires_at": session.expires_at.isoformat()}, by,
        event_id=str(uuid.uuid4()), occurred_at=now)


def check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidAccountData(
            "password", f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")


class AccountService:
    def __init__(self, store: AccountStore, hasher: PasswordHasher,
                 authenticator: Authenticator | None = None, clock: Clock = utc_now) -> None:
        self._store, self._hasher, self._clock = store, hasher, clock
        self._authenticator = authenticator

    def _changed(self) -> None:
        if self._authenticator is not None:
            self._authenticator.refresh()

    def _event(self, kind: str, by: str | None, payload: Mapping[str, Any]) -> BusinessEvent:
        return BusinessEvent(f"accounts.{kind}", payload, by, event_id=str(uuid.uuid4()),
                             occurred_at=self._clock())

    # accounts -----------------------------------------------------------------------------
    def create_account(self, email: str, display_name: str, role: Role, password: str | None,
                       station_scope: Iterable[str] | None = None,
                       by: str | None = None,
                       site_scope: Iterable[str] | None = None) -> Account:
        if password is not None:
            check_password(password)
        account = Account(str(uuid.uuid4()), normalise_email(email), display_name.strip(),
                          role, True, _scope(station_scope),
                          self._hasher.hash(password) if password is not None else None,
                          self._clock(), site_scope=_scope(site_scope, "site_scope"))
        self._store.add_account(account, self._event(
            "account-created", by, _with_hash(account_document(account), account)))
        self._changed()
        return account

    def get_account(self, account_id: str) -> Account:
        account = self._store.account(account_id)
        if account is None:
            raise AccountNotFound(f"no account {account_id}")
        return account

    def list_accounts(self) -> list[Account]:
        return self._store.accounts()

    def update_account(self, account_id: str, changes: Mapping[str, Any],
                       by: str | None = None) -> Account:
        """`changes`: any of display_name, role, enabled, station_scope, site_scope,
        password."""
        account = self.get_account(account_id)
        updates: dict[str, Any] = {k: v for k, v in changes.items()
                                   if k in ("display_name", "role", "enabled")}
        for scope in ("station_scope", "site_scope"):
            if scope in changes:
                updates[scope] = _scope(changes[scope], scope)
        if changes.get("password") is not None:
            check_password(changes["password"])
            updates["password_hash"] = self._hasher.hash(changes["password"])
            self._end_sessions(account.account_id, by)
        updated = account.changed(**updates)
        document = account_document(updated)
        if "password_hash" in updates:
            document = _with_hash(document, updated)
        self._store.save_account(updated, self._event("account-updated", by, document))
        self._changed()
        return updated

    def _end_sessions(self, account_id: str, by: str | None) -> None:
        """A new password signs out every session the old one opened. Ended before the
        password is saved: a crash in between leaves a signed-out person, never a session
        that outlives the password it was opened with."""
        now = self._clock()
        for session in self._store.open_sessions(account_id, now):
            self._store.save_session(*session_ended(session, by or "system", now))

    def delete_account(self, account_id: str, by: str | None = None) -> None:
        account = self.get_account(account_id)
        self._store.delete_account(account_id, self._event(
            "account-deleted", by, {"account_id": account.account_id, "email": account.email}))
        self._changed()

    # API keys -----------------------------------------------------------------------------
    def create_api_key(self, caller: Principal, owner_id: str, name: str, role: Role,
                       expires_at: datetime | None) -> CreatedKey:
        owner = self.get_account(owner_id)
        if not role_within(role, owner.role):
            raise NotAllowed(f"a key's role cannot exceed its owner's ({owner.role.value})")
        if not role_within(role, caller.role):
            raise NotAllowed(f"a key's role cannot exceed yours ({caller.role.value})")
        if expires_at is not None and expires_at <= self._clock():
            raise InvalidAccountData("expires_at", "must be in the future")
        key_id, secret, digest = new_api_key()
        key = ApiKey(key_id, owner.account_id, name.strip(), role, digest, self._clock(),
                     expires_at)
        document = {**key_document(key), "secret_hash": digest}
        try:
            self._store.add_api_key(key, self._event("api-key-created", caller.audit_name,
                                                     document))
        except UnknownAccount as error:  # deleted since get_account
            raise AccountNotFound(f"no account {owner_id}") from error
        self._changed()
        return CreatedKey(key, secret)

    def add_preset_api_key(self, owner: Account, key_id: str, digest: str, name: str) -> ApiKey:
        """A key whose secret was chosen outside (the documented preset for scripts)."""
        key = ApiKey(key_id, owner.account_id, name, owner.role, digest, self._clock())
        self._store.add_api_key(key, self._event(
            "api-key-created", "setup", {**key_document(key), "secret_hash": digest}))
        self._changed()
        return key

    def list_api_keys(self, account_id: str | None = None) -> list[ApiKey]:
        return self._store.api_keys(account_id)

    def get_api_key(self, key_id: str) -> ApiKey:
        key = self._store.api_key(key_id)
        if key is None:
            raise ApiKeyNotFound(f"no API key {key_id}")
        return key

    def revoke_api_key(self, key_id: str, by: str | None = None) -> ApiKey:
        key = self.get_api_key(key_id)
        if key.revoked_at is not None:
            return key
        revoked = ApiKey(**{**key.__dict__, "revoked_at": self._clock()})
        self._store.save_api_key(revoked, self._event(
            "api-key-revoked", by, {"key_id": key_id, "account_id": key.account_id,
                                    "revoked_at": revoked.revoked_at.isoformat()}))
        self._changed()
        return revoked


def _scope(ids: Iterable[str] | None, field_name: str = "station_scope"
           ) -> frozenset[str] | None:
    if ids is None:
        return None
    scope = frozenset(s.strip() for s in ids if s.strip())
    if not scope:
        raise InvalidAccountData(field_name, "give at least one id, or null for no limit")
    return scope


def _with_hash(document: dict[str, Any], account: Account) -> dict[str, Any]:
    """The password's hash travels in the account's events so a replay rebuilds sign-in;
    the event-store's API never shows it (docs/events.md)."""
    return {**document, "password_hash": account.password_hash}
