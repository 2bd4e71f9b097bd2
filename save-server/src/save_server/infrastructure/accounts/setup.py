"""Signing keys, the refresher of the credential copy, and the first admin."""

from __future__ import annotations

import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from save_server.domain.access import Principal, Role
from save_server.infrastructure.accounts.tokens import (
    JwtTokenIssuer,
    ensure_key_pair,
    load_private_key,
)
from save_server.service.accounts import AccountService
from save_server.service.authentication import Authenticator, secret_digest, split_api_key

log = structlog.get_logger(__name__)

SIGNING_KEY_FILE = "auth-signing-key.pem"
PUBLIC_KEY_FILE = "auth-public-key.pem"  # what the embedded event-store verifies with
ADMIN_KEY_FILE = "admin-api-key"
EXAMPLE_MARKERS = ("EXAMPLE", "CHANGE-ME", "CHANGEME")


class MissingSecret(RuntimeError):
    """A production process refuses to start without its secrets (and says which)."""


def issuer_from_file(signing_key_file: Path | None,
                     previous_public_keys_file: Path | None = None) -> JwtTokenIssuer:
    if signing_key_file is None:
        raise MissingSecret("AUTH_SIGNING_KEY_FILE is not set: save-server's API needs an "
                            "Ed25519 private key to sign access tokens (docs/operations.md)")
    try:
        pem = signing_key_file.read_bytes()
    except OSError as error:
        raise MissingSecret(f"AUTH_SIGNING_KEY_FILE {signing_key_file}: {error}") from error
    if any(marker.encode() in pem.upper() for marker in EXAMPLE_MARKERS):
        raise MissingSecret(f"AUTH_SIGNING_KEY_FILE {signing_key_file} holds the example "
                            "placeholder; generate a key: openssl genpkey -algorithm ed25519")
    try:
        key = load_private_key(pem, f"AUTH_SIGNING_KEY_FILE {signing_key_file}")
    except ValueError as error:
        raise MissingSecret(str(error)) from error
    return JwtTokenIssuer(key, load_public_keys(previous_public_keys_file))


def load_public_keys(path: Path | None) -> list[Ed25519PublicKey]:
    if path is None:
        return []
    keys = []
    for block in path.read_text().split("-----END PUBLIC KEY-----"):
        if "BEGIN PUBLIC KEY" in block:
            key = serialization.load_pem_public_key((block + "-----END PUBLIC KEY-----\n")
                                                    .strip().encode())
            if isinstance(key, Ed25519PublicKey):
                keys.append(key)
    return keys


def embedded_issuer(data_dir: Path) -> JwtTokenIssuer:
    return JwtTokenIssuer(ensure_key_pair(data_dir / SIGNING_KEY_FILE,
                                          data_dir / PUBLIC_KEY_FILE))


@dataclass(frozen=True)
class FirstAdmin:
    email: str
    password: str | None
    api_key: str
    key_file: Path | None


def ensure_first_admin(service: AccountService, email: str, preset_key: str | None,
                       data_dir: Path | None, with_password: bool) -> FirstAdmin | None:
    """When no account exists: an admin account and an admin API key (the preset one, if
    given), the key written to `data_dir/admin-api-key` (0600). None when accounts exist."""
    if service.list_accounts():
        return None
    password = secrets.token_urlsafe(18) if with_password else None
    admin = service.create_account(email, "Administrator", Role.ADMIN, password, by="setup")
    if preset_key:
        parts = split_api_key(preset_key)
        if parts is None:
            raise MissingSecret("CSMS_ADMIN_API_KEY must look like csk_<12 hex>_<secret>")
        service.add_preset_api_key(admin, parts[0], secret_digest(parts[1]), "preset admin key")
        key = preset_key
    else:
        setup = Principal(admin.account_id, admin.email, Role.ADMIN, None, "setup")
        key = service.create_api_key(setup, admin.account_id, "first admin key", Role.ADMIN,
                                     None).secret
    key_file = None
    if data_dir is not None:
        key_file = data_dir / ADMIN_KEY_FILE
        key_file.unlink(missing_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key + "\n")
    return FirstAdmin(admin.email, password, key, key_file)


def run_refresher(authenticator: Authenticator, stop: threading.Event,
                  interval: float = 1.0, flush_every: int = 10) -> threading.Thread:
    """Reload the credential copy when the store's revision moved (every `interval` s) and
    write the keys' last-used times (every `flush_every` intervals)."""

    def loop() -> None:
        ticks = 0
        while not stop.wait(interval):
            ticks += 1
            try:
                authenticator.refresh()
                if ticks % flush_every == 0:
                    authenticator.flush_key_use()
            except Exception as error:  # the database may be away for a while
                log.warning("credential refresh failed", error=str(error))
        authenticator.flush_key_use()

    thread = threading.Thread(target=loop, name="save-server-credentials", daemon=True)
    thread.start()
    return thread
