"""Cross-branch check (15a save-server + 15b gateway): a tag created through the API answers
Authorize; blocked within 5 s; an unknown card refused and listed; both modes."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx
import pytest
from websockets.asyncio.client import connect

from .platform import base_env, embedded_platform, services_platform


async def authorize(url: str, id_tag: str) -> str:
    async with connect(url, subprotocols=["ocpp1.6"]) as ws:
        await ws.send(json.dumps([2, "1", "Authorize", {"idTag": id_tag}]))
        return json.loads(await asyncio.wait_for(ws.recv(), 10))[2]["idTagInfo"]["status"]


def check(platform, unknown_policy: str) -> None:
    station = f"CP-{uuid.uuid4().hex[:8]}"
    card = f"CARD{uuid.uuid4().hex[:8].upper()}"
    api = httpx.Client(base_url=platform.save_server_url, headers=platform.headers, timeout=10)
    group = "G" + uuid.uuid4().hex[:8]
    assert api.post("/id-tag-groups", json={"group_id": group, "label": "Apto 302"}
                    ).status_code == 201
    created = api.post("/id-tags", json={"id_tag": card, "group_id": group,
                                         "expires_at": "2030-01-01T00:00:00Z"})
    assert created.status_code == 201, created.text
    url = platform.station_url(station)
    deadline = time.monotonic() + 10
    while (status := asyncio.run(authorize(url, card.lower()))) != "Accepted":
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
    async def info() -> dict:
        async with connect(url, subprotocols=["ocpp1.6"]) as ws:
            await ws.send(json.dumps([2, "1", "Authorize", {"idTag": card}]))
            return json.loads(await ws.recv())[2]["idTagInfo"]
    assert asyncio.run(info()) == {"status": "Accepted", "parentIdTag": group,
                                   "expiryDate": "2030-01-01T00:00:00Z"}
    assert api.patch(f"/id-tags/{card}", json={"status": "blocked"}).status_code == 200
    started = time.monotonic()
    while asyncio.run(authorize(url, card)) != "Blocked":
        assert time.monotonic() - started < 5
        time.sleep(0.1)
    newcomer = "NOBODY-" + card
    if unknown_policy == "reject":
        assert asyncio.run(authorize(url, newcomer)) == "Invalid"
        deadline = time.monotonic() + 10
        while not any(u.get("id_tag") == newcomer for u in api.get("/id-tags/unknown").json()):
            assert time.monotonic() < deadline, api.get("/id-tags/unknown").text
            time.sleep(0.2)
    else:  # accepted and enrolled by save-server from the event's authorization field
        assert asyncio.run(authorize(url, newcomer)) == "Accepted"
        deadline = time.monotonic() + 10
        while api.get(f"/id-tags/{newcomer}").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.2)


def test_embedded(tmp_path) -> None:
    env = base_env(tmp_path) | {"GATEWAY_UNKNOWN_ID_TAGS": "reject"}
    with embedded_platform(tmp_path, env) as platform:
        check(platform, "reject")


@pytest.mark.integration
def test_services(tmp_path) -> None:
    with services_platform(tmp_path) as platform:  # the e2e env accepts unknown tags
        check(platform, "accept")
