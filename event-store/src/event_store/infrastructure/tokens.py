"""Verifies save-server's access tokens (EdDSA JWTs) with its public key(s) alone."""

from __future__ import annotations

import hashlib
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from event_store.service.authentication import TokenVerifier, Unauthenticated

ISSUER, AUDIENCE, ALGORITHM = "save-server", "csms", "EdDSA"
END = "-----END PUBLIC KEY-----"


class MissingSecret(RuntimeError):
    pass


def _key_id(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def read_public_keys(path: Path) -> dict[str, Ed25519PublicKey]:
    """Every Ed25519 public key (PEM) in the file, by key id (several during a rotation)."""
    keys: dict[str, Ed25519PublicKey] = {}
    for block in path.read_text().split(END):
        if "BEGIN PUBLIC KEY" not in block:
            continue
        key = serialization.load_pem_public_key((block.strip() + "\n" + END + "\n").encode())
        if isinstance(key, Ed25519PublicKey):
            keys[_key_id(key)] = key
    return keys


class JwtVerifier(TokenVerifier):
    """Reads the key file when first needed and again when a token names an unknown key id,
    so the embedded mode may start before save-server wrote its key, and a rotation only
    needs the file replaced."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._keys: dict[str, Ed25519PublicKey] = {}

    def _key(self, kid: str) -> Ed25519PublicKey | None:
        if kid not in self._keys and self._path.exists():
            self._keys = read_public_keys(self._path)
        return self._keys.get(kid)

    def claims(self, token: str) -> dict:
        try:
            key = self._key(str(jwt.get_unverified_header(token).get("kid")))
            if key is None:
                raise Unauthenticated("token signed with an unknown key")
            return jwt.decode(token, key, algorithms=[ALGORITHM], audience=AUDIENCE,
                              issuer=ISSUER, options={"require": ["exp", "sub", "sid"]})
        except jwt.ExpiredSignatureError as error:
            raise Unauthenticated("token expired") from error
        except jwt.PyJWTError as error:
            raise Unauthenticated("invalid token") from error


def checked_key_file(path: Path | None) -> Path:
    """Services mode: the public key file must exist and hold a key, or the API won't start."""
    if path is None:
        raise MissingSecret("AUTH_PUBLIC_KEYS_FILE is not set: the event-store needs "
                            "save-server's public key to check access tokens")
    try:
        keys = read_public_keys(path)
    except (OSError, ValueError) as error:
        raise MissingSecret(f"AUTH_PUBLIC_KEYS_FILE {path}: {error}") from error
    if not keys:
        raise MissingSecret(f"AUTH_PUBLIC_KEYS_FILE {path} holds no Ed25519 public key")
    return path
