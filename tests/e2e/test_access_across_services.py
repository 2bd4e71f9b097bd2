"""Accounts are made in save-server and obeyed by the event-store too, which learns them from
the `accounts.*` events on the broker (no call to save-server): a key works on both APIs, and
its revocation, or its account being disabled, takes effect on both within 5 seconds."""

from __future__ import annotations

import time

import httpx

from tests.e2e.platform import TIME_FACTOR, Platform

DEADLINE = 5.0  # seconds, the promise of docs/operations.md


def status(url: str, bearer: str) -> int:
    return httpx.get(url, headers={"Authorization": f"Bearer {bearer}"}, timeout=10).status_code


def seconds_until(check, limit: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < limit * TIME_FACTOR:
        if check():
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"not within {limit} s")


def urls(platform: Platform) -> list[str]:
    return [f"{platform.save_server_url}/charges", f"{platform.event_store_url}/events"]


def new_operator(platform: Platform, email: str, password: str | None = None) -> dict:
    admin = httpx.Client(headers=platform.headers, timeout=10)
    account = admin.post(f"{platform.save_server_url}/accounts", json={
        "email": email, "display_name": email, "role": "operator", "password": password})
    assert account.status_code == 201, account.text
    key = admin.post(f"{platform.save_server_url}/api-keys", json={
        "name": "e2e", "account_id": account.json()["account_id"]})
    assert key.status_code == 201, key.text
    return {"account": account.json(), "key": key.json(), "admin": admin}


def test_a_revoked_key_is_refused_by_both_apis_within_5_seconds(platform: Platform) -> None:
    made = new_operator(platform, f"revoke-{time.monotonic_ns()}@e2e.example")
    secret = made["key"]["api_key"]
    # a new key reaches the event-store through the broker too
    seconds_until(lambda: all(status(url, secret) == 200 for url in urls(platform)), 30)
    response = made["admin"].delete(f"{platform.save_server_url}/api-keys/"
                                    f"{made['key']['key_id']}")
    assert response.status_code == 204
    took = seconds_until(lambda: all(status(url, secret) == 401 for url in urls(platform)),
                         DEADLINE)
    assert took < DEADLINE * TIME_FACTOR


def test_a_disabled_account_is_refused_by_both_apis_within_5_seconds(platform: Platform
                                                                      ) -> None:
    password = "a long enough password"
    email = f"disable-{time.monotonic_ns()}@e2e.example"
    made = new_operator(platform, email, password)
    login = httpx.post(f"{platform.save_server_url}/auth/login",
                       json={"email": email, "password": password}, timeout=10)
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    credentials = [made["key"]["api_key"], token]
    seconds_until(lambda: all(status(url, c) == 200 for url in urls(platform)
                              for c in credentials), 30)
    response = made["admin"].patch(
        f"{platform.save_server_url}/accounts/{made['account']['account_id']}",
        json={"enabled": False})
    assert response.status_code == 200
    took = seconds_until(lambda: all(status(url, c) == 401 for url in urls(platform)
                                     for c in credentials), DEADLINE)
    assert took < DEADLINE * TIME_FACTOR


def test_the_audit_trail_names_who_changed_accounts(platform: Platform) -> None:
    made = new_operator(platform, f"audit-{time.monotonic_ns()}@e2e.example")
    account_id = made["account"]["account_id"]

    def created() -> list[dict]:
        found = httpx.get(f"{platform.event_store_url}/events", headers=platform.headers,
                          params={"type": "accounts.account-created", "limit": 1000},
                          timeout=10).json()
        return [e for e in found if e["payload"]["account_id"] == account_id]

    seconds_until(lambda: bool(created()), 30)
    [event] = created()
    assert event["principal"].startswith("admin@localhost (api-key:")
    assert event["payload"]["password_hash"] in (None, "<redacted>")
