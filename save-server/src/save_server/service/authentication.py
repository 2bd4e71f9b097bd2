"""Who is calling: API keys and access tokens checked against a local copy of the accounts.

No request reads the database: `refresh()` (called every second by a thread, and after each
local change) replaces the copy when the store's revision moved. Revocations made by another
API replica therefore apply within about a second here.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from save_server.domain.access import Principal, effective_role
from save_server.domain.accounts import AccountStore, CredentialState, InvalidToken, TokenIssuer

API_KEY_PREFIX = "csk_"
KEY_ID_HEX = 12

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Unauthenticated(Exception):
    """No credential, or one that is malformed, unknown, expired, revoked or disabled."""


class CredentialsUnavailable(Exception):
    """The copy of the credentials was never loaded (the database was unreachable)."""


def secret_digest(secret: str) -> str:
    """API keys and refresh secrets are ≥ 256 random bits: a plain SHA-256 resists guessing,
    and keeps a request's check in microseconds (a slow hash is for passwords)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_api_key() -> tuple[str, str, str]:
    """(key id, the full key shown once, the digest stored)."""
    key_id = secrets.token_hex(KEY_ID_HEX // 2)
    secret = secrets.token_urlsafe(32)
    return key_id, f"{API_KEY_PREFIX}{key_id}_{secret}", secret_digest(secret)


def split_api_key(key: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed key, else None."""
    if not key.startswith(API_KEY_PREFIX):
        return None
    rest = key[len(API_KEY_PREFIX):]
    key_id, sep, secret = rest[:KEY_ID_HEX], rest[KEY_ID_HEX:KEY_ID_HEX + 1], rest[KEY_ID_HEX + 1:]
    if sep != "_" or not secret or len(key_id) != KEY_ID_HEX:
        return None
    try:
        int(key_id, 16)
    except ValueError:
        return None
    return key_id, secret


class Authenticator:
    def __init__(self, store: AccountStore, tokens: TokenIssuer, clock: Clock = utc_now) -> None:
        self._store, self._tokens, self._clock = store, tokens, clock
        self._state = CredentialState(-1, {}, {}, frozenset())
        self._lock = threading.Lock()
        self._keys_used: dict[str, datetime] = {}

    def refresh(self, force: bool = False) -> None:
        with self._lock:
            if force or self._store.revision() != self._state.revision:
                self._state = self._store.credential_state()

    def flush_key_use(self) -> None:
        """Write the API keys' last-used times gathered since the last flush."""
        used, self._keys_used = self._keys_used, {}
        if used:
            self._store.touch_api_keys(used)

    def authenticate(self, token: str) -> Principal:
        if self._state.revision < 0:
            try:
                self.refresh()
            except Exception as error:
                raise CredentialsUnavailable(str(error)) from error
        if token.startswith(API_KEY_PREFIX):
            return self._by_api_key(token)
        return self._by_access_token(token)

    def _by_api_key(self, token: str) -> Principal:
        parts = split_api_key(token)
        state = self._state
        key = state.api_keys.get(parts[0]) if parts else None
        if parts is None or key is None or not hmac.compare_digest(
                key.secret_hash, secret_digest(parts[1])):
            raise Unauthenticated("unknown API key")
        now = self._clock()
        if not key.usable_at(now):
            raise Unauthenticated("API key revoked or expired")
        account = state.accounts.get(key.account_id)
        if account is None or not account.enabled:
            raise Unauthenticated("the key's account is disabled or deleted")
        self._keys_used[key.key_id] = now
        return Principal(account.account_id, account.email, effective_role(key.role, account.role),
                         state.scope_of(account), f"api-key:{key.key_id}", account.site_scope)

    def _by_access_token(self, token: str) -> Principal:
        try:
            claims = self._tokens.verify(token)
        except InvalidToken as error:
            raise Unauthenticated(str(error)) from error
        state = self._state
        account = state.accounts.get(str(claims.get("sub")))
        session_id = str(claims.get("sid"))
        if account is None or not account.enabled:
            raise Unauthenticated("the token's account is disabled or deleted")
        if session_id in state.ended_sessions:
            raise Unauthenticated("signed out")
        return Principal(account.account_id, account.email, account.role,
                         state.scope_of(account), f"session:{session_id}", account.site_scope)
