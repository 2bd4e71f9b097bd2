"""The dashboard's idle timeout, enforced by the server.

The cookies' `Max-Age` only asks the browser to forget an idle session; a browser (or a copy
of its cookies) that keeps them would otherwise stay signed in until the sign-in session's
absolute expiry. So every page a person opens also renews an **activity stamp**: a token
signed with the API's own signing key (the replicas share it) that names the sign-in session
and the moment of the request, kept in its own `HttpOnly` cookie. Each request checks it; a
stamp older than the idle timeout, of another session, or missing ends the sign-in session on
the server and sends the browser to the sign-in page.

Background requests (the live feeds, the counts the overview's script fetches) are not
activity: a page left open on a wall screen times out like any other.

The stamp's subject is not an account id, so the API's authenticator (and the event-store's)
refuses it as a bearer token.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from save_server.domain.accounts import InvalidToken, TokenIssuer

ACTIVITY_COOKIE = "csms_active"
BACKGROUND_PREFIXES = ("/ui/live/", "/ui/overview/counts")
_SUBJECT = "dashboard-activity"
_SLACK_SECONDS = 300  # the signature's own expiry, beyond the idle timeout (clock skew)


def is_background(path: str) -> bool:
    return path.startswith(BACKGROUND_PREFIXES)


def session_of(credential: str) -> str | None:
    """The sign-in session id of a principal's credential (`session:<id>`), else None."""
    kind, _, session_id = credential.partition(":")
    return session_id if kind == "session" and session_id else None


class ActivityStamps:
    def __init__(self, tokens: TokenIssuer, idle_seconds: int,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._tokens, self.idle_seconds, self.clock = tokens, idle_seconds, clock

    def stamp(self, session_id: str) -> str:
        at = self.clock().timestamp()
        return self._tokens.issue({"sub": f"{_SUBJECT}:{session_id}", "sid": session_id,
                                   "at": at}, self.idle_seconds + _SLACK_SECONDS)

    def active(self, stamp: str | None, session_id: str) -> bool:
        """The stamp is this session's and at most `idle_seconds` old."""
        if not stamp:
            return False
        try:
            claims = self._tokens.verify(stamp)
        except InvalidToken:
            return False
        if claims.get("sub") != f"{_SUBJECT}:{session_id}" or claims.get("sid") != session_id:
            return False
        at = claims.get("at")
        if not isinstance(at, int | float):
            return False
        return -_SLACK_SECONDS <= self.clock().timestamp() - at <= self.idle_seconds
