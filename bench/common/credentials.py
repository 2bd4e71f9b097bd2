"""Credentials for the processes a benchmark starts: the APIs answer nobody without one.

One admin API key per bench run, preset in save-server (`CSMS_ADMIN_API_KEY`) and taught to the
event-store as the account events save-server would publish; the access-token key pair in a
temporary folder."""

from __future__ import annotations

import hashlib
import json
import secrets
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

KEY_ID = secrets.token_hex(6)
SECRET = secrets.token_urlsafe(32)
ADMIN_KEY = f"csk_{KEY_ID}_{SECRET}"
HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}"}
_FOLDER = Path(tempfile.mkdtemp(prefix="bench-keys-"))


def _key_files() -> tuple[Path, Path]:
    private, public = _FOLDER / "auth-signing-key.pem", _FOLDER / "auth-public-key.pem"
    if not private.exists():
        key = Ed25519PrivateKey.generate()
        private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                              serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
        public.write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def api_env() -> dict[str, str]:
    """Environment for `python -m save_server api` and `python -m event_store api`."""
    private, public = _key_files()
    return {"AUTH_SIGNING_KEY_FILE": str(private), "AUTH_PUBLIC_KEYS_FILE": str(public),
            "CSMS_ADMIN_API_KEY": ADMIN_KEY}


def account_events() -> list[bytes]:
    """The admin's account and key as `accounts.*` events, for an event-store on its own."""
    account_id = str(uuid.uuid4())
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")

    def event(kind: str, payload: dict) -> bytes:
        return json.dumps({"event_id": str(uuid.uuid4()), "type": f"accounts.{kind}",
                           "schema_version": 1, "charging_station_id": None,
                           "received_at": now, "principal": "bench",
                           "payload": payload}).encode()

    return [event("account-created", {"account_id": account_id, "email": "bench@localhost",
                                      "display_name": "bench", "role": "admin",
                                      "enabled": True, "station_scope": None,
                                      "created_at": now}),
            event("api-key-created", {"key_id": KEY_ID, "account_id": account_id,
                                      "name": "bench", "role": "admin", "created_at": now,
                                      "expires_at": None, "revoked_at": None,
                                      "secret_hash": hashlib.sha256(SECRET.encode()).hexdigest()})]
