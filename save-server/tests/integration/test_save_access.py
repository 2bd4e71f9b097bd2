"""Who may call what: every route refuses a caller without a credential (401) and a known
caller without the permission (403); bad credentials of every kind get 401, never data."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select

from save_server.bootstrap import Container
from save_server.domain.access import ROLE_PERMISSIONS, Role
from save_server.infrastructure.accounts.tokens import JwtTokenIssuer
from save_server.infrastructure.api.security import PUBLIC_PATHS, api_routes, requirements
from save_server.infrastructure.dashboard import is_dashboard_path
from save_server.infrastructure.outbox.tables import outbox_events
from save_server.infrastructure.translation import parse_envelope, translate
from save_server.service.ingest import ingest_event
from tests.support.api_keys import grant

PASSWORD = "correct horse battery staple"


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:6]}@save.example"


def feed(container: Container, events: list[dict[str, Any]]) -> None:
    for event in events:
        envelope = parse_envelope(json.dumps(event).encode())
        ingest_event(container.uow_factory, str(envelope.event_id), envelope.type,
                     translate(envelope))


def routes(container: Container) -> list[APIRoute]:
    """The API's routes (the dashboard's cookie-session pages: test_save_dashboard.py)."""
    return [r for r in api_routes(container.app()) if r.path not in PUBLIC_PATHS
            and not is_dashboard_path(r.path)]


def concrete(path: str) -> str:
    """A path with its parameters filled (ids that exist nowhere)."""
    return re.sub(r"\{[^}]+\}", "1", path.replace("{command}", "reset"))


def call(client: TestClient, method: str, path: str, **kwargs: Any) -> Any:
    return client.request(method, path, **kwargs)


def route_cases(container: Container) -> list[tuple[str, str, APIRoute]]:
    return [(method, concrete(r.path), r) for r in routes(container) for method in r.methods]


def test_every_route_but_probes_and_sign_in_answers_401_without_a_credential(
        container: Container) -> None:
    client = TestClient(container.app())
    cases = route_cases(container)
    assert len(cases) > 25  # the walk found the API, not an empty list
    for method, path, _ in cases:
        response = call(client, method, path, json={})
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["WWW-Authenticate"].startswith("Bearer"), (method, path)
    for path in ("/health", "/metrics"):
        assert client.get(path).status_code == 200


@pytest.mark.parametrize("role", ["viewer", "technician", "operator"])
def test_a_known_caller_without_the_permission_gets_403_on_every_such_route(
        container: Container, role: str) -> None:
    client = TestClient(container.app(), headers=grant(container, role))
    allowed = ROLE_PERMISSIONS[Role(role)]
    refused = 0
    for method, path, route in route_cases(container):
        needed = set(requirements(route) or ()) - {"authenticated"}
        response = call(client, method, path, json={})
        if needed <= allowed:
            assert response.status_code not in (401, 403), (role, method, path, response.text)
        else:
            refused += 1
            assert response.status_code == 403, (role, method, path, response.text)
            assert role in response.json()["detail"]
    assert refused > 0


def test_the_role_table_grants_what_each_role_promises() -> None:
    """The roles of docs/api.md as data: admin everything, operator no accounts and no
    replay, technician reads and maintenance commands, viewer reads."""
    table = {role: {p.value for p in permissions} for role, permissions in
             ROLE_PERMISSIONS.items()}
    assert table[Role.ADMIN] >= {"accounts:manage", "events:replay", "commands:charging"}
    assert "accounts:manage" not in table[Role.OPERATOR]
    assert "events:replay" not in table[Role.OPERATOR]
    assert {"commands:charging", "reports:write", "id-tags:write"} <= table[Role.OPERATOR]
    assert table[Role.TECHNICIAN] == {"stations:read", "charges:read", "commands:read",
                                      "id-tags:read", "commands:maintenance", "api-keys:own"}
    assert table[Role.VIEWER] == {"stations:read", "charges:read", "commands:read",
                                  "id-tags:read", "api-keys:own"}


def test_a_technician_sends_maintenance_commands_but_not_charging_ones(
        container: Container) -> None:
    client = TestClient(container.app(), headers=grant(container, "technician"))
    assert client.post("/charging-stations/CP-NONE/commands/remote-start",
                       json={"id_tag": "X"}).status_code == 403
    # allowed: the station is unknown, so 404 (or 503 without a broker), never 403
    assert client.post("/charging-stations/CP-NONE/commands/reset",
                       json={"type": "soft"}).status_code in (404, 503)


def outbox_types(container: Container) -> list[str]:
    with container.engine.connect() as db:
        return list(db.execute(select(outbox_events.c.routing_key).order_by(outbox_events.c.seq))
                    .scalars())


def login(client: TestClient, email: str, password: str) -> Any:
    return client.post("/auth/login", json={"email": email, "password": password})


@pytest.fixture
def person(container: Container) -> dict[str, Any]:
    """An operator who signs in with a password."""
    admin = TestClient(container.app(), headers=grant(container))
    email = f"Ana-{uuid.uuid4().hex[:6]}@Save.example"
    created = admin.post("/accounts", json={"email": email, "display_name": "Ana",
                                            "role": "operator", "password": PASSWORD})
    assert created.status_code == 201, created.text
    assert "password" not in created.text and "hash" not in created.text
    return {"admin": admin, "account": created.json(), "email": email.lower()}


def test_sign_in_refresh_and_sign_out(container: Container, person: dict[str, Any]) -> None:
    client = TestClient(container.app())
    signed_in = login(client, person["email"].upper(), PASSWORD)  # e-mails case-insensitive
    assert signed_in.status_code == 200, signed_in.text
    tokens = signed_in.json()
    assert tokens["expires_in"] == 900 and tokens["token_type"] == "bearer"
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/charging-stations", headers=bearer).status_code == 200
    assert client.get("/accounts", headers=bearer).status_code == 403  # an operator
    me = client.get("/auth/me", headers=bearer).json()
    assert me["email"] == person["email"] and me["last_login_at"] is not None

    refreshed = client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    # a refresh token works once: it rotated
    assert client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
                       ).status_code == 401
    assert client.post("/auth/logout", headers=bearer).status_code == 204
    assert client.get("/charging-stations", headers=bearer).status_code == 401
    assert client.post("/auth/refresh", json={
        "refresh_token": refreshed.json()["refresh_token"]}).status_code == 401


def test_a_new_password_signs_out_every_session_the_old_one_opened(
        container: Container, person: dict[str, Any]) -> None:
    client = TestClient(container.app())
    first, second = (login(client, person["email"], PASSWORD).json() for _ in range(2))
    bearers = [{"Authorization": f"Bearer {t['access_token']}"} for t in (first, second)]
    assert all(client.get("/auth/me", headers=b).status_code == 200 for b in bearers)
    before = outbox_types(container)

    changed = person["admin"].patch(f"/accounts/{person['account']['account_id']}",
                                    json={"password": "a brand new passphrase"})
    assert changed.status_code == 200, changed.text
    for bearer, tokens in zip(bearers, (first, second), strict=True):
        assert client.get("/auth/me", headers=bearer).status_code == 401
        assert client.post("/auth/refresh", json={
            "refresh_token": tokens["refresh_token"]}).status_code == 401
    assert login(client, person["email"], PASSWORD).status_code == 401
    renewed = login(client, person["email"], "a brand new passphrase")
    assert renewed.status_code == 200
    assert client.get("/auth/me", headers={
        "Authorization": f"Bearer {renewed.json()['access_token']}"}).status_code == 200
    # the event-store's copy and a replay learn it from the events
    new = outbox_types(container)[len(before):]
    assert new[:3] == ["accounts.signed-out", "accounts.signed-out", "accounts.account-updated"]


def test_wrong_password_unknown_and_disabled_accounts_get_the_same_answer(
        container: Container, person: dict[str, Any]) -> None:
    client = TestClient(container.app())
    wrong = login(client, person["email"], "not the password at all")
    unknown = login(client, "nobody@save.example", PASSWORD)
    person["admin"].patch(f"/accounts/{person['account']['account_id']}",
                          json={"enabled": False})
    disabled = login(client, person["email"], PASSWORD)
    assert [r.status_code for r in (wrong, unknown, disabled)] == [401, 401, 401]
    assert wrong.json() == unknown.json() == disabled.json()


def test_failed_sign_ins_are_throttled_per_account_and_address(
        container: Container, person: dict[str, Any]) -> None:
    client = TestClient(container.app())
    answers = [login(client, person["email"], "wrong guess number x").status_code
               for _ in range(6)]
    assert answers[:5] == [401] * 5 and answers[5] == 429
    throttled = login(client, person["email"], PASSWORD)  # even the right password waits
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) >= 1
    # an unknown e-mail is throttled the same way (no account enumeration)
    assert login(client, "ghost@save.example", "x" * 12).status_code == 429  # same address


def expired_and_forged_tokens(container: Container, account_id: str) -> dict[str, str]:
    issuer = container.token_issuer
    other = JwtTokenIssuer(Ed25519PrivateKey.generate())
    claims = {"sub": account_id, "sid": "s-1", "role": "admin"}
    valid = issuer.issue(claims, 60)
    header, _payload, signature = valid.split(".")
    tampered_payload = jwt.utils.base64url_encode(json.dumps(
        {**jwt.decode(valid, options={"verify_signature": False}), "role": "admin",
         "sub": "someone-else"}).encode()).decode()
    unsigned = jwt.encode({**claims, "exp": int(time.time()) + 60}, key=None, algorithm="none")
    expired = issuer.issue(claims, 60)
    expired = jwt.encode({**jwt.decode(expired, options={"verify_signature": False}),
                          "exp": int(time.time()) - 10}, issuer._key, algorithm="EdDSA",
                         headers={"kid": issuer._kid})
    return {"expired": expired, "another key": other.issue(claims, 60),
            "alg none": unsigned, "tampered": f"{header}.{tampered_payload}.{signature}",
            "garbage": "not-a-token", "malformed key": "csk_zz_123"}


def test_bad_tokens_and_keys_get_401_never_data(container: Container,
                                                person: dict[str, Any]) -> None:
    client = TestClient(container.app())
    for name, token in expired_and_forged_tokens(container,
                                                 person["account"]["account_id"]).items():
        response = client.get("/charges", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, name
        assert set(response.json()) == {"detail"}, name
    assert client.get("/charges", headers={"Authorization": "Basic YTpi"}).status_code == 401


def test_revoked_expired_and_orphan_keys_get_401(container: Container) -> None:
    admin = TestClient(container.app(), headers=grant(container))
    account = admin.post("/accounts", json={"email": unique("bot"), "display_name": "Bot",
                                            "role": "operator"}).json()
    made = admin.post("/api-keys", json={"name": "script", "account_id": account["account_id"]})
    assert made.status_code == 201 and made.json()["role"] == "operator"
    key = {"Authorization": f"Bearer {made.json()['api_key']}"}
    client = TestClient(container.app())
    assert client.get("/charges", headers=key).status_code == 200
    listed = admin.get("/api-keys", params={"account_id": account["account_id"]}).json()
    assert "api_key" not in listed[0] and "secret_hash" not in json.dumps(listed)
    assert admin.delete(f"/api-keys/{made.json()['key_id']}").status_code == 204
    assert client.get("/charges", headers=key).status_code == 401

    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    short = admin.post("/api-keys", json={"name": "brief", "expires_at": soon}).json()
    time.sleep(1.2)
    assert client.get("/charges", headers={
        "Authorization": f"Bearer {short['api_key']}"}).status_code == 401

    other = admin.post("/api-keys", json={"name": "2", "account_id": account["account_id"]})
    assert admin.delete(f"/accounts/{account['account_id']}").status_code == 204
    assert client.get("/charges", headers={
        "Authorization": f"Bearer {other.json()['api_key']}"}).status_code == 401


def test_nobody_makes_a_key_above_their_role_or_the_owners(container: Container) -> None:
    operator = TestClient(container.app(), headers=grant(container, "operator"))
    assert operator.post("/api-keys", json={"name": "up", "role": "admin"}).status_code == 403
    assert operator.post("/api-keys", json={"name": "ok", "role": "viewer"}).status_code == 201
    admin = TestClient(container.app(), headers=grant(container))
    viewer = admin.post("/accounts", json={"email": unique("v"), "display_name": "V",
                                           "role": "viewer"}).json()
    assert admin.post("/api-keys", json={"name": "x", "role": "operator",
                                         "account_id": viewer["account_id"]}).status_code == 403
    assert operator.get("/api-keys", params={"account_id": viewer["account_id"]}
                        ).status_code == 403


def test_a_scoped_viewer_never_sees_another_stations_data(
        container: Container, charger: Callable[..., Any]) -> None:
    mine, theirs = charger(), charger()
    feed(container, [mine.boot(), mine.start(1, 1, 0, "TAG-MINE"), mine.stop(1, 500),
                     theirs.boot(), theirs.start(1, 2, 0, "TAG-THEIRS"), theirs.stop(2, 900)])
    admin = TestClient(container.app(), headers=grant(container))
    viewer = TestClient(container.app(), headers=grant(container, "viewer", [mine.station_id]))
    their_charge = admin.get("/charges", params={"charging_station_id": theirs.station_id}
                             ).json()[0]

    assert [s["id"] for s in viewer.get("/charging-stations").json()] == [mine.station_id]
    assert {c["charging_station_id"] for c in viewer.get("/charges").json()} == {
        mine.station_id}
    assert viewer.get("/charges", params={"charging_station_id": theirs.station_id}
                      ).json() == []
    csv_text = viewer.get("/charges.csv").text
    assert mine.station_id in csv_text and theirs.station_id not in csv_text
    for path in (f"/charging-stations/{theirs.station_id}", f"/charges/{their_charge['id']}",
                 f"/charging-stations/{theirs.station_id}/commands"):
        response = viewer.get(path)
        assert response.status_code == 404, path
        assert "TAG-THEIRS" not in response.text
    assert viewer.get(f"/charging-stations/{mine.station_id}").status_code == 200


def test_openapi_shows_the_bearer_scheme(container: Container) -> None:
    document = TestClient(container.app()).get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert {"HTTPBearer": []} in document["paths"]["/charges"]["get"]["security"]


def test_a_nul_character_anywhere_is_a_422_not_a_server_error(container: Container) -> None:
    admin = TestClient(container.app(), headers=grant(container))
    assert admin.get("/api-keys", params={"account_id": "a\x00b"}).status_code in (200, 422)
    assert admin.get("/charging-stations/CP%00X").status_code in (404, 422)
    created = admin.post("/accounts", json={"email": unique("nul"), "display_name": "N\x00ul",
                                            "role": "viewer"})
    assert created.status_code in (201, 422)


def test_a_nul_character_in_a_csv_query_is_a_422_before_streaming(container: Container) -> None:
    admin = TestClient(container.app(), headers=grant(container))
    for path in ("/charges.csv", "/reports/charges.csv"):
        response = admin.get(f"{path}?id_tag=A%00B&start_date=2026-01-01T00:00:00Z"
                             "&end_date=2026-01-02T00:00:00Z")
        assert response.status_code == 422, (path, response.text)


def test_a_keys_last_use_is_recorded_without_a_write_per_request(container: Container) -> None:
    headers = grant(container, "operator")
    client = TestClient(container.app(), headers=headers)
    key_id = headers["Authorization"].split()[1][4:16]
    service = container.access_control().accounts

    def last_used() -> Any:
        return next(k for k in service.list_api_keys() if k.key_id == key_id).last_used_at

    assert client.get("/charges").status_code == 200
    assert last_used() is None  # not written by the request itself
    container.access_control().authenticator.flush_key_use()  # the refresher does it every ~10 s
    first = last_used()
    assert first is not None
    assert client.get("/charges").status_code == 200
    container.access_control().authenticator.flush_key_use()
    assert last_used() >= first
