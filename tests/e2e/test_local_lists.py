"""Local lists end to end (docs/architecture.md, "Local authorization lists"): simulated 1.6
and 2.0.1 stations over a real websocket get GetLocalListVersion and a full SendLocalList when
they connect, a differential one after a tag change made through the API, ClearCache when a
tag is blocked, and a full one after answering VersionMismatch; the API shows the list."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.e2e.charger import poll
from tests.e2e.command_charger import CommandCharger
from tests.e2e.platform import Platform, api_headers

pytestmark = pytest.mark.e2e
SUBPROTOCOLS = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1"}


@dataclass
class StationList:
    """The charger's side of a local list, on raw OCPP payloads."""

    version: str
    list_version: int = 0
    tags: dict[str, str] = field(default_factory=dict)  # id tag → status
    forced: list[str] = field(default_factory=list)  # next SendLocalList answers

    def respond(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        v16 = self.version == "1.6"
        if action == "GetLocalListVersion":
            return {"listVersion" if v16 else "versionNumber": self.list_version}
        if action == "GetConfiguration":
            return {"configurationKey": [
                {"key": "LocalAuthListEnabled", "readonly": False, "value": "true"},
                {"key": "LocalAuthListMaxLength", "readonly": True, "value": "100"},
                {"key": "SendLocalListMaxLength", "readonly": True, "value": "20"}]}
        if action == "GetVariables":
            return {"getVariableResult": [
                {"attributeStatus": "Accepted", "attributeValue": "20",
                 "component": item["component"], "variable": item["variable"]}
                if item["variable"]["name"] == "ItemsPerMessage" else
                {"attributeStatus": "UnknownVariable", "component": item["component"],
                 "variable": item["variable"]} for item in payload["getVariableData"]]}
        if action == "SendLocalList":
            return {"status": self._apply(payload, v16)}
        return {"status": "Accepted"}

    def _apply(self, payload: dict[str, Any], v16: bool) -> str:
        if self.forced:
            return self.forced.pop(0)
        version = payload["listVersion" if v16 else "versionNumber"]
        if payload["updateType"] == "Differential" and version <= self.list_version:
            return "VersionMismatch"
        if payload["updateType"] == "Full":
            self.tags = {}
        for item in payload.get("localAuthorizationList", []):
            token = item["idTag"] if v16 else item["idToken"]["idToken"]
            info = item.get("idTagInfo" if v16 else "idTokenInfo")
            if info is None:
                self.tags.pop(token, None)
            else:
                self.tags[token] = info["status"]
        self.list_version = version
        return "Accepted"


def sends(charger: CommandCharger) -> list[tuple[str, int]]:
    return [(p["updateType"], p.get("listVersion", p.get("versionNumber")))
            for action, p in charger.sync_calls if action == "SendLocalList"]


async def api(platform: Platform, method: str, path: str, body: Any = None) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30, headers=api_headers()) as client:
        return await client.request(method, f"{platform.save_server_url}{path}", json=body)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_local_list_kept_in_sync_on_connect_on_changes_and_after_a_mismatch(
        platform: Platform, version: str) -> None:
    station_id = f"E2E-LL-{uuid.uuid4().hex[:8]}"
    tag, other = f"T{uuid.uuid4().hex[:8]}".upper(), f"U{uuid.uuid4().hex[:8]}".upper()
    station = StationList(version)
    async with CommandCharger(platform.station_url(station_id), SUBPROTOCOLS[version],
                              station.respond) as charger:
        await charger.boot()
        # on connect (and again on boot): the version, then a full list
        await poll(lambda: _async(sends(charger)), lambda s: ("Full", 1) in s)
        assert charger.sync_calls[0] == ("GetLocalListVersion", {})

        created = await api(platform, "POST", "/id-tags",
                            {"id_tag": tag, "station_ids": [station_id]})
        assert created.status_code == 201, created.text
        await poll(lambda: _async(station.tags), lambda tags: tags.get(tag) == "Accepted")
        assert sends(charger)[-1] == ("Differential", 2)

        blocked = await api(platform, "PATCH", f"/id-tags/{tag}", {"status": "blocked"})
        assert blocked.status_code == 200, blocked.text
        await poll(lambda: _async(station.tags), lambda tags: tags.get(tag) == "Blocked")
        await poll(lambda: _async([a for a, _ in charger.received]),
                   lambda actions: "ClearCache" in actions)

        station.forced = ["VersionMismatch"]
        created = await api(platform, "POST", "/id-tags",
                            {"id_tag": other, "station_ids": [station_id]})
        assert created.status_code == 201, created.text
        await poll(lambda: _async(station.tags), lambda tags: other in tags)
        assert sends(charger)[-2:] == [("Differential", 4), ("Full", 5)]
        assert station.tags == {tag: "Blocked", other: "Accepted"}

        shown = await poll(lambda: api(platform, "GET",
                                       f"/charging-stations/{station_id}/local-list"),
                           lambda r: r.status_code == 200
                           and r.json()["acknowledged_version"] == 5)
        body = shown.json()
        assert (body["support"], body["ocpp_version"], body["in_sync"]) == (
            "supported", version, True)
        assert {e["id_tag"]: e["status"] for e in body["entries"]} == station.tags
        assert [(s["list_version"], s["status"]) for s in body["sends"][:2]] == [
            (5, "Accepted"), (4, "VersionMismatch")]


async def test_local_list_of_an_unknown_station_is_404(platform: Platform) -> None:
    response = await api(platform, "GET", "/charging-stations/E2E-LL-NOBODY/local-list")
    assert response.status_code == 404


async def _async(value: Any) -> Any:
    return value
