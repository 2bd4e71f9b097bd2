"""Passwords hashed with argon2id (argon2-cffi, RFC 9106 parameters)."""

from __future__ import annotations

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from save_server.domain.accounts import PasswordHasher


class Argon2PasswordHasher(PasswordHasher):
    """argon2-cffi's defaults (argon2id, t=3, m=64 MiB, p=4): about 50 to 100 ms per hash on a
    2-core machine (docs/performance.md). Tests may pass cheaper parameters."""

    def __init__(self, hasher: argon2.PasswordHasher | None = None) -> None:
        self._hasher = hasher or argon2.PasswordHasher()
        self._dummy: str | None = None

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def dummy_verify(self) -> None:
        if self._dummy is None:
            self._dummy = self._hasher.hash("not a password of anyone's")
        self.verify(self._dummy, "a wrong guess")
