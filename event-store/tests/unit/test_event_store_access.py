"""The event-store answers only save-server's callers, from its copy of the account events."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from event_store.bootstrap import build_app
from event_store.domain.events import parse_event
from event_store.infrastructure.api.security import PUBLIC_PATHS, api_routes


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def test_every_route_but_the_probes_answers_401_without_a_credential(sqlite_storage):
    app = build_app(sqlite_storage, publisher_factory=None)
    client = TestClient(app)
    cases = [(m, concrete(r.path)) for r in api_routes(app) if r.path not in PUBLIC_PATHS
             for m in r.methods]
    assert len(cases) >= 8
    for method, path in cases:
        response = client.request(method, path, json={})
        assert response.status_code == 401, (method, path)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/health").status_code == 200


@pytest.mark.parametrize(("role", "reads", "replays"), [
    ("admin", True, True), ("operator", True, False), ("technician", False, False),
    ("viewer", False, False)])
def test_roles_read_and_replay_as_the_role_table_says(sqlite_storage, authorize, role, reads,
                                                      replays):
    app = build_app(sqlite_storage, publisher_factory=None)
    client = TestClient(app, headers=authorize(app, role))
    assert (client.get("/events").status_code == 200) is reads
    assert (client.get("/events/stats").status_code == 200) is reads
    listing = client.get("/replays").status_code
    assert listing == (503 if replays else 403)  # 503: allowed, but no broker here


def test_keys_and_accounts_follow_the_stored_account_events(sqlite_storage, account_events):
    app = build_app(sqlite_storage, publisher_factory=None)
    client = TestClient(app)
    bodies, key = account_events("operator")
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/events", headers=headers).status_code == 401  # not stored yet
    sqlite_storage.save_many([parse_event(body) for body in bodies])
    app.state.authenticator.refresh()
    assert client.get("/events", headers=headers).status_code == 200
    created = json.loads(bodies[1])["payload"]

    def store(kind: str, payload: dict) -> None:
        sqlite_storage.save_many([parse_event(json.dumps({
            "event_id": f"e-{kind}-{time.monotonic_ns()}", "type": f"accounts.{kind}",
            "received_at": datetime.now(UTC).isoformat(), "charging_station_id": None,
            "payload": payload}).encode())])
        app.state.authenticator.refresh()

    store("api-key-revoked", {"key_id": created["key_id"], "account_id": created["account_id"]})
    assert client.get("/events", headers=headers).status_code == 401
    other_bodies, other_key = account_events("operator")
    sqlite_storage.save_many([parse_event(body) for body in other_bodies])
    app.state.authenticator.refresh()
    other = {"Authorization": f"Bearer {other_key}"}
    assert client.get("/events", headers=other).status_code == 200
    account = json.loads(other_bodies[0])["payload"]
    store("account-updated", {**account, "enabled": False})
    assert client.get("/events", headers=other).status_code == 401
    # an account event stored long after its date is applied by the next full rebuild
    late = {**account, "account_id": "late", "email": "late@test"}
    sqlite_storage.save_many([parse_event(json.dumps({
        "event_id": "late-1", "type": "accounts.account-created",
        "received_at": "2020-01-01T00:00:00Z", "payload": late}).encode())])
    app.state.authenticator.refresh()
    assert "late" not in app.state.authenticator.copy.accounts
    app.state.authenticator.refresh(full=True)
    assert "late" in app.state.authenticator.copy.accounts


def test_account_hashes_are_never_shown(sqlite_storage, authorize, account_events):
    bodies, _ = account_events("admin")
    sqlite_storage.save_many([parse_event(body) for body in bodies])
    app = build_app(sqlite_storage, publisher_factory=None)
    client = TestClient(app, headers=authorize(app))
    listed = client.get("/events", params={"type": "accounts.api-key-created"}).json()
    assert listed and listed[0]["payload"]["secret_hash"] == "<redacted>"
    one = client.get(f"/events/{listed[0]['event_id']}").json()
    assert one["payload"]["secret_hash"] == "<redacted>"
    assert sqlite_storage.get(listed[0]["event_id"]).envelope["payload"]["secret_hash"] != (
        "<redacted>")  # kept whole for a replay


def test_station_password_hashes_of_registry_events_are_never_shown(sqlite_storage, authorize):
    """registry.* events carry the registration whole for a replay, hashes included."""
    stored = {"algorithm": "sha256-salted", "salt": "ab" * 16, "hash": "cd" * 32,
              "valid_until": None}
    sqlite_storage.save_many([parse_event(json.dumps({
        "event_id": "reg-1", "type": "registry.station-registered",
        "received_at": "2026-12-05T12:00:00Z", "charging_station_id": "CP-1",
        "payload": {"charging_station_id": "CP-1", "revision": 1,
                    "passwords": [stored]}}).encode())])
    app = build_app(sqlite_storage, publisher_factory=None)
    client = TestClient(app, headers=authorize(app))
    [listed] = client.get("/events", params={"type": "registry.station-registered"}).json()
    assert listed["payload"]["passwords"] == "<redacted>"
    assert listed["payload"]["revision"] == 1
    assert client.get("/events/reg-1").json()["payload"]["passwords"] == "<redacted>"
    assert sqlite_storage.get("reg-1").envelope["payload"]["passwords"] == [stored]


def write_public_key(path, key: Ed25519PrivateKey) -> None:
    path.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def token(key: Ed25519PrivateKey, **claims) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                        serialization.PublicFormat.Raw)
    import hashlib
    kid = hashlib.sha256(raw).hexdigest()[:16]
    body = {"iss": "save-server", "aud": "csms", "exp": int(time.time()) + 60, "sid": "s1",
            **claims}
    return jwt.encode(body, key, algorithm="EdDSA", headers={"kid": kid})


def test_access_tokens_are_checked_with_save_servers_public_key(sqlite_storage, account_events,
                                                                 tmp_path):
    signing, stranger = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    keys_file = tmp_path / "auth-public-key.pem"
    write_public_key(keys_file, signing)
    bodies, _ = account_events("admin")
    sqlite_storage.save_many([parse_event(body) for body in bodies])
    account_id = json.loads(bodies[0])["payload"]["account_id"]
    app = build_app(sqlite_storage, None, None, keys_file)
    client = TestClient(app)

    def status(bearer: str) -> int:
        return client.get("/events", headers={"Authorization": f"Bearer {bearer}"}).status_code

    assert status(token(signing, sub=account_id)) == 200
    assert status(token(stranger, sub=account_id)) == 401
    assert status(token(signing, sub=account_id, exp=int(time.time()) - 5)) == 401
    assert status(token(signing, sub="unknown-account")) == 401
    unsigned = jwt.encode({"sub": account_id, "sid": "s1", "iss": "save-server", "aud": "csms",
                           "exp": int(time.time()) + 60}, key=None, algorithm="none")
    assert status(unsigned) == 401
    header, _, signature = token(signing, sub=account_id).split(".")
    forged = jwt.utils.base64url_encode(json.dumps(
        {"sub": "other", "sid": "s1", "exp": int(time.time()) + 60}).encode()).decode()
    assert status(f"{header}.{forged}.{signature}") == 401
    sqlite_storage.save_many([parse_event(json.dumps({
        "event_id": "signed-out-1", "type": "accounts.signed-out",
        "received_at": datetime.now(UTC).isoformat(), "charging_station_id": None,
        "payload": {"account_id": account_id, "session_id": "s1",
                    "expires_at": "2099-01-01T00:00:00Z"}}).encode())])
    app.state.authenticator.refresh()
    assert status(token(signing, sub=account_id)) == 401


def test_a_replay_is_recorded_with_who_started_it(sqlite_storage, authorize):
    from csms_embedded.broker import InProcessBroker
    from event_store.infrastructure.embedded_broker import EmbeddedReplayPublisher
    from tests.support.schemas import business_event_validator

    app = build_app(sqlite_storage, lambda: EmbeddedReplayPublisher(InProcessBroker(), "x"))
    client = TestClient(app, headers=authorize(app))
    started = client.post("/replays", json={"target": "all"})
    assert started.status_code == 202
    app.state.replays.wait(started.json()["id"], 5)
    [event] = client.get("/events", params={"type": "event-store.replay-started"}).json()
    assert event["principal"].startswith("admin@test (api-key:")
    assert event["payload"]["replay_id"] == started.json()["id"]
    business_event_validator()({k: v for k, v in event.items() if k != "date"})
