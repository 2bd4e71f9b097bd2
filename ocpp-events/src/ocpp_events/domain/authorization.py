"""Which id tags / id tokens may charge: accept-all or reject-all, until id tags are managed."""

from __future__ import annotations

import abc


class AuthorizationPolicy(abc.ABC):
    @abc.abstractmethod
    def status_for(self, id_tag: str) -> str:
        """The authorization status for an id tag: "Accepted", "Blocked", "Invalid", ..."""


class FixedPolicy(AuthorizationPolicy):
    """Answers the same status for every id tag (accept-all by default)."""

    def __init__(self, status: str = "Accepted") -> None:
        self._status = status

    def status_for(self, id_tag: str) -> str:
        return self._status
