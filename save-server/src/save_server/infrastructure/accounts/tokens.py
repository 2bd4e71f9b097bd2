"""Access tokens: JWTs signed with Ed25519 (pyjwt + cryptography). save-server holds the private
key; every other service verifies with the public key alone, without calling save-server."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from save_server.domain.accounts import InvalidToken, TokenIssuer

ISSUER = "save-server"
AUDIENCE = "csms"
ALGORITHM = "EdDSA"


def public_pem(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_private_key(pem: bytes, source: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{source} is not a PEM private key: {error}") from error
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{source} must be an Ed25519 key (openssl genpkey -algorithm ed25519)")
    return key


def ensure_key_pair(private_path: Path, public_path: Path) -> Ed25519PrivateKey:
    """The embedded mode's signing key: made on first start (mode 0600), kept afterwards."""
    if private_path.exists():
        key = load_private_key(private_path.read_bytes(), str(private_path))
    else:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        private_path.parent.mkdir(parents=True, exist_ok=True)
        private_path.touch(mode=0o600)
        private_path.write_bytes(pem)
    public_path.write_bytes(public_pem(key))
    return key


class JwtTokenIssuer(TokenIssuer):
    """Signs with `signing_key`; verifies tokens of it and of `previous_keys` (rotation)."""

    def __init__(self, signing_key: Ed25519PrivateKey,
                 previous_keys: Sequence[Ed25519PublicKey] = ()) -> None:
        self._key = signing_key
        self._kid = key_id(signing_key.public_key())
        self._verifiers = {self._kid: signing_key.public_key(),
                           **{key_id(k): k for k in previous_keys}}

    def issue(self, claims: Mapping[str, Any], lifetime_seconds: int) -> str:
        now = int(time.time())
        payload = {**claims, "iss": ISSUER, "aud": AUDIENCE, "iat": now,
                   "exp": now + lifetime_seconds, "jti": str(uuid.uuid4())}
        return jwt.encode(payload, self._key, algorithm=ALGORITHM, headers={"kid": self._kid})

    def verify(self, token: str) -> dict[str, Any]:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = self._verifiers.get(str(kid))
            if key is None:
                raise InvalidToken("token signed with an unknown key")
            return jwt.decode(token, key, algorithms=[ALGORITHM], audience=AUDIENCE,
                              issuer=ISSUER, options={"require": ["exp", "sub", "sid"]})
        except jwt.ExpiredSignatureError as error:
            raise InvalidToken("token expired") from error
        except jwt.PyJWTError as error:
            raise InvalidToken("invalid token") from error
