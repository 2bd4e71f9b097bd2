"""Authenticates API callers from the copy of the account events in this store.

`refresh()` (every second, on a thread) applies the account events stored since the last
look; a request only reads the copy. Access tokens are verified with save-server's public
key(s): no call to save-server, per request or ever.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from event_store.domain.access import ACCOUNT_EVENT_TYPES, Caller, CredentialCopy
from event_store.domain.ports import EventStorage
from event_store.domain.queries import Cursor, EventQuery

API_KEY_PREFIX = "csk_"
KEY_ID_LENGTH = 12
# An account event may be stored a little after a later-dated one (relay and batching):
# each look goes back this far and skips the events it already applied.
OVERLAP = timedelta(minutes=5)
PAGE = 1000


class Unauthenticated(Exception):
    pass


class TokenVerifier(ABC):
    """Verifies an access token's signature and claims; raises Unauthenticated."""

    @abstractmethod
    def claims(self, token: str) -> dict: ...


class Authenticator:
    def __init__(self, storage: EventStorage, tokens: TokenVerifier,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._storage, self._tokens, self._clock = storage, tokens, clock
        self.copy = CredentialCopy()
        self._applied: dict[str, datetime] = {}
        self._since: datetime | None = None
        self._lock = threading.Lock()

    def refresh(self, full: bool = False) -> int:
        """Apply the account events not applied yet; returns how many were applied. `full`
        rebuilds the copy from every account event (the refresher does it now and then, for
        an event stored long after its date)."""
        with self._lock:
            if full:
                self.copy, self._applied, self._since = CredentialCopy(), {}, None
            applied, cursor = 0, None
            start = self._since - OVERLAP if self._since else None
            while True:
                page = self._storage.find(EventQuery(start, None, ACCOUNT_EVENT_TYPES, None,
                                                     cursor, PAGE))
                for event in page:
                    if event.event_id in self._applied:
                        continue
                    self.copy.apply(event.type, event.envelope.get("payload") or {})
                    self._applied[event.event_id] = event.date
                    self._since = max(self._since or event.date, event.date)
                    applied += 1
                if len(page) < PAGE:
                    break
                cursor = Cursor.after_event(page[-1])
            self._forget_old()
            return applied

    def _forget_old(self) -> None:
        if self._since is None:
            return
        horizon = self._since - 2 * OVERLAP
        self._applied = {k: v for k, v in self._applied.items() if v >= horizon}

    def authenticate(self, token: str) -> Caller:
        if token.startswith(API_KEY_PREFIX):
            return self._by_api_key(token)
        claims = self._tokens.claims(token)
        account_id = str(claims.get("sub"))
        account = self.copy.accounts.get(account_id)
        if account is None or not account.enabled:
            raise Unauthenticated("the token's account is disabled or unknown here")
        session_id = str(claims.get("sid"))
        if session_id in self.copy.ended_sessions:
            raise Unauthenticated("signed out")
        return Caller(account_id, account.email, account.role, f"session:{session_id}")

    def _by_api_key(self, token: str) -> Caller:
        rest = token[len(API_KEY_PREFIX):]
        key_id, secret = rest[:KEY_ID_LENGTH], rest[KEY_ID_LENGTH + 1:]
        key = self.copy.keys.get(key_id)
        digest = hashlib.sha256(secret.encode()).hexdigest()
        if key is None or not secret or not hmac.compare_digest(key.secret_hash, digest):
            raise Unauthenticated("unknown API key")
        if key.revoked or (key.expires_at is not None and self._clock() >= key.expires_at):
            raise Unauthenticated("API key revoked or expired")
        account = self.copy.accounts.get(key.account_id)
        if account is None or not account.enabled:
            raise Unauthenticated("the key's account is disabled or deleted")
        return Caller(key.account_id, account.email, self.copy.key_role(key),
                      f"api-key:{key_id}")
