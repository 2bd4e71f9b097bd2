"""Staff accounts, their API keys and sign-in sessions, and the ports the use cases need."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from save_server.domain.access import Role
from save_server.domain.business_events import BusinessEvent

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}$")


class InvalidAccountData(ValueError):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field_name = field_name


def normalise_email(email: str) -> str:
    """E-mails are unique case-insensitively: stored and compared lower-cased."""
    cleaned = email.strip().lower()
    if not EMAIL.match(cleaned):
        raise InvalidAccountData("email", "not an e-mail address")
    return cleaned


@dataclass(frozen=True)
class Account:
    account_id: str
    email: str
    display_name: str
    role: Role
    enabled: bool
    station_scope: frozenset[str] | None
    password_hash: str | None
    created_at: datetime
    last_login_at: datetime | None = None
    site_scope: frozenset[str] | None = None  # with station_scope: what a viewer may see

    def changed(self, **changes: Any) -> Account:
        return replace(self, **changes)


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    account_id: str
    name: str
    role: Role
    secret_hash: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    def usable_at(self, moment: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or moment < self.expires_at)


@dataclass(frozen=True)
class SignInSession:
    """A person's sign-in: its refresh secret (hashed) rotates on every refresh."""

    session_id: str
    account_id: str
    refresh_hash: str
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None = None

    def usable_at(self, moment: datetime) -> bool:
        return self.ended_at is None and moment < self.expires_at


@dataclass(frozen=True)
class CredentialState:
    """Everything authentication needs, read at once: a local copy refreshed on change."""

    revision: int
    accounts: Mapping[str, Account]
    api_keys: Mapping[str, ApiKey]
    ended_sessions: frozenset[str]
    site_stations: Mapping[str, frozenset[str]] = field(default_factory=dict)

    _scopes: dict[str, frozenset[str] | None] = field(default_factory=dict, repr=False)

    def scope_of(self, account: Account) -> frozenset[str] | None:
        """The stations an account may see: its stations and those of its sites (None: all);
        worked out once per copy of the credentials, not per request."""
        if account.account_id not in self._scopes:
            self._scopes[account.account_id] = self._scope(account)
        return self._scopes[account.account_id]

    def _scope(self, account: Account) -> frozenset[str] | None:
        if account.station_scope is None and account.site_scope is None:
            return None
        stations = set(account.station_scope or ())
        for site_id in account.site_scope or ():
            stations |= self.site_stations.get(site_id, frozenset())
        return frozenset(stations)


class AccountStore(ABC):
    """Accounts, keys and sessions; each write commits with its business event (outbox)."""

    @abstractmethod
    def add_account(self, account: Account, event: BusinessEvent) -> None:
        """Raises DuplicateEmail when the e-mail is taken."""

    @abstractmethod
    def save_account(self, account: Account, event: BusinessEvent | None) -> None: ...

    @abstractmethod
    def delete_account(self, account_id: str, event: BusinessEvent) -> None:
        """Removes the account, its keys and sessions."""

    @abstractmethod
    def account(self, account_id: str) -> Account | None: ...

    @abstractmethod
    def account_by_email(self, email: str) -> Account | None: ...

    @abstractmethod
    def accounts(self) -> list[Account]: ...

    @abstractmethod
    def add_api_key(self, key: ApiKey, event: BusinessEvent) -> None: ...

    @abstractmethod
    def save_api_key(self, key: ApiKey, event: BusinessEvent | None) -> None: ...

    @abstractmethod
    def api_keys(self, account_id: str | None = None) -> list[ApiKey]: ...

    @abstractmethod
    def api_key(self, key_id: str) -> ApiKey | None: ...

    @abstractmethod
    def touch_api_keys(self, used: Mapping[str, datetime]) -> None:
        """Record when keys were last used (no event: usage is not business state)."""

    @abstractmethod
    def add_session(self, session: SignInSession, account: Account,
                    event: BusinessEvent) -> None:
        """The new session, and the account with its new last sign-in time."""

    @abstractmethod
    def save_session(self, session: SignInSession, event: BusinessEvent | None) -> None: ...

    @abstractmethod
    def session(self, session_id: str) -> SignInSession | None: ...

    @abstractmethod
    def open_sessions(self, account_id: str, moment: datetime) -> list[SignInSession]:
        """The account's sessions neither ended nor expired at `moment`."""

    @abstractmethod
    def revision(self) -> int:
        """Grows with every change that matters to authentication."""

    @abstractmethod
    def credential_state(self) -> CredentialState: ...


class UnknownAccount(LookupError):
    """A key or a session for an account that is not there (deleted meanwhile)."""


class DuplicateEmail(Exception):
    pass


class PasswordHasher(ABC):
    """A slow, memory-hard password hash (the adapter names the scheme)."""

    @abstractmethod
    def hash(self, password: str) -> str: ...

    @abstractmethod
    def verify(self, password_hash: str, password: str) -> bool: ...

    @abstractmethod
    def dummy_verify(self) -> None:
        """Spend the time of one verification: unknown accounts answer as slowly as known."""


class TokenIssuer(ABC):
    """Short-lived signed access tokens that other services verify with a public key."""

    @abstractmethod
    def issue(self, claims: Mapping[str, Any], lifetime_seconds: int) -> str: ...

    @abstractmethod
    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a valid token; raises InvalidToken otherwise."""


class InvalidToken(Exception):
    pass
