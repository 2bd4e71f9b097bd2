"""People sign in with e-mail and password: a short access token and a rotating refresh token.

Failed attempts are throttled per e-mail (known or not: no account enumeration) and per client
address, in this process's memory: with N API replicas an attacker gets N times the attempts
(docs/operations.md).
"""

from __future__ import annotations

import secrets
import threading
import uuid
from dataclasses import dataclass, replace
from datetime import timedelta

from save_server.domain.accounts import (
    Account,
    AccountStore,
    PasswordHasher,
    SignInSession,
    TokenIssuer,
    UnknownAccount,
)
from save_server.domain.business_events import BusinessEvent
from save_server.service.accounts import session_ended
from save_server.service.authentication import Authenticator, Clock, secret_digest, utc_now

GENERIC_FAILURE = "wrong e-mail or password"


class SignInFailed(Exception):
    pass


class Throttled(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many failed sign-ins; retry in {retry_after:.0f} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: int
    account: Account


class LoginThrottle:
    """After `free` failures within `window`, each further attempt waits 2^(n-free) s, at
    most `max_delay` s; `window` without a failure forgets them."""

    def __init__(self, clock: Clock, free: int = 5, max_delay: float = 900.0,
                 window: float = 900.0) -> None:
        self._clock, self._free, self._max, self._window = clock, free, max_delay, window
        self._failures: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def _now(self) -> float:
        return self._clock().timestamp()

    def check(self, *keys: str) -> None:
        now = self._now()
        with self._lock:
            waits = [self._wait(key, now) for key in keys]
        if max(waits, default=0) > 0:
            raise Throttled(max(waits))

    def _wait(self, key: str, now: float) -> float:
        count, last = self._failures.get(key, (0, 0.0))
        if now - last > self._window:
            self._failures.pop(key, None)
            return 0.0
        if count < self._free:
            return 0.0
        return max(0.0, last + min(2.0 ** (count - self._free), self._max) - now)

    def failed(self, *keys: str) -> None:
        now = self._now()
        with self._lock:
            for key in keys:
                count, last = self._failures.get(key, (0, 0.0))
                count = 0 if now - last > self._window else count
                self._failures[key] = (count + 1, now)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)


class SignIn:
    def __init__(self, store: AccountStore, hasher: PasswordHasher, tokens: TokenIssuer,
                 authenticator: Authenticator, access_seconds: int = 900,
                 refresh_seconds: int = 12 * 3600, clock: Clock = utc_now) -> None:
        self._store, self._hasher, self._tokens = store, hasher, tokens
        self._authenticator, self._clock = authenticator, clock
        self._access, self._refresh = access_seconds, refresh_seconds
        self.throttle = LoginThrottle(clock)

    def login(self, email: str, password: str, client: str) -> Tokens:
        email_key, client_key = f"email:{email.strip().lower()}", f"client:{client}"
        self.throttle.check(email_key, client_key)
        account = self._store.account_by_email(email.strip().lower())
        if account is None or account.password_hash is None:
            self._hasher.dummy_verify()
            ok = False
        else:
            ok = self._hasher.verify(account.password_hash, password) and account.enabled
        if not ok or account is None:
            self.throttle.failed(email_key, client_key)
            raise SignInFailed(GENERIC_FAILURE)
        self.throttle.succeeded(email_key)
        now = self._clock()
        session_id, secret = str(uuid.uuid4()), secrets.token_urlsafe(32)
        session = SignInSession(session_id, account.account_id, secret_digest(secret), now,
                                now + timedelta(seconds=self._refresh))
        signed_in = account.changed(last_login_at=now)
        try:
            self._store.add_session(session, signed_in, BusinessEvent(
                "accounts.signed-in", {"account_id": account.account_id,
                                       "session_id": session_id, "client": client},
                signed_in.email, event_id=str(uuid.uuid4()), occurred_at=now))
        except UnknownAccount as error:  # deleted since it was read
            raise SignInFailed(GENERIC_FAILURE) from error
        return self._tokens_for(signed_in, session, secret)

    def refresh(self, refresh_token: str) -> Tokens:
        session_id, _, secret = refresh_token.partition(".")
        session = self._store.session(session_id) if secret else None
        now = self._clock()
        if (session is None or not session.usable_at(now)
                or not secrets.compare_digest(session.refresh_hash, secret_digest(secret))):
            raise SignInFailed("refresh token unknown, used, expired or signed out")
        account = self._store.account(session.account_id)
        if account is None or not account.enabled:
            raise SignInFailed("refresh token unknown, used, expired or signed out")
        new_secret = secrets.token_urlsafe(32)
        rotated = replace(session, refresh_hash=secret_digest(new_secret))
        self._store.save_session(rotated, None)
        return self._tokens_for(account, rotated, new_secret)

    def logout(self, session_id: str, by: str) -> None:
        session = self._store.session(session_id)
        if session is None or session.ended_at is not None:
            return
        self._store.save_session(*session_ended(session, by, self._clock()))
        self._authenticator.refresh()

    def _tokens_for(self, account: Account, session: SignInSession, secret: str) -> Tokens:
        access = self._tokens.issue({"sub": account.account_id, "sid": session.session_id,
                                     "role": account.role.value}, self._access)
        return Tokens(access, f"{session.session_id}.{secret}", self._access, account)
