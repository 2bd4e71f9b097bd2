"""Report subscriptions by id tag group: `groups` keeps the e-mail's charges to those groups,
`group_usage` adds the groups' energy of the month (section + CSV); an unknown group is a 422
naming `groups`."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from save_server.domain.id_tags import IdTag, IdTagGroup
from save_server.domain.reports import ReportWindow, report_month
from save_server.infrastructure.api.app import create_app
from tests.support.api_keys import grant

from .test_reports_api import field_of

pytestmark = pytest.mark.integration


@pytest.fixture
def api(container: Any, clock: Any, smtp_server: Any,
        make_reports: Any) -> Iterator[tuple[TestClient, Any]]:
    server = smtp_server()
    clock.now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    with TestClient(create_app(container.api_dependencies(), container.access_control(),
                               make_reports(server)), headers=grant(container)) as client:
        yield client, server


def test_report_month_is_the_month_of_the_windows_end_in_its_zone() -> None:
    from zoneinfo import ZoneInfo
    zone = ZoneInfo("America/Sao_Paulo")
    monthly = ReportWindow(datetime(2026, 11, 1, 3, tzinfo=UTC),
                           datetime(2026, 12, 1, 3, tzinfo=UTC))
    assert report_month(monthly, zone) == "2026-11"
    weekly = ReportWindow(datetime(2026, 11, 29, 3, tzinfo=UTC),
                          datetime(2026, 12, 6, 3, tzinfo=UTC))
    assert report_month(weekly, zone) == "2026-12"


def test_a_group_subscription_mails_its_groups_charges_and_their_month(
        container: Any, api: tuple[TestClient, Any], charger: Any, feed_events: Any) -> None:
    client, server = api
    tags = container.id_tags()
    apto, other = f"A{uuid.uuid4().hex[:6]}", f"B{uuid.uuid4().hex[:6]}"
    tags.create_group(IdTagGroup(apto, "Apto 302", 50.0), "test")
    tags.create_group(IdTagGroup(other, "Apto 101"), "test")
    tags.create_tag(IdTag("CARD-302", group_id=apto), "test")
    tags.create_tag(IdTag("CARD-101", group_id=other), "test")
    station = charger(f"CP-{uuid.uuid4().hex[:6]}")
    feed_events(
        station.start(1, 1, 0, id_tag="CARD-302", at=datetime(2026, 11, 5, 12, tzinfo=UTC)),
        station.stop(1, 7_500, at=datetime(2026, 11, 5, 13, tzinfo=UTC)),
        station.start(1, 2, 7_500, id_tag="CARD-101", at=datetime(2026, 11, 6, 12, tzinfo=UTC)),
        station.stop(2, 9_500, at=datetime(2026, 11, 6, 13, tzinfo=UTC)))
    created = client.post("/report-subscriptions", json={
        "recipients": ["sindico@save.example"], "schedule": "0 6 1 * *",
        "groups": [apto], "group_usage": True})
    assert created.status_code == 201, created.text
    assert (created.json()["groups"], created.json()["group_usage"]) == ([apto], True)
    sid = created.json()["id"]
    sent = client.post(f"/report-subscriptions/{sid}/send-now", json={
        "start": "2026-11-01T00:00:00-03:00", "end": "2026-12-01T00:00:00-03:00"})
    assert sent.status_code == 200 and sent.json()["charge_count"] == 1, sent.text
    [mail] = server.mailbox.received
    parts = {p.get_filename(): p.get_payload(decode=True).decode()
             for p in mail.message.iter_attachments()}
    [charges_csv] = [v for k, v in parts.items() if k.startswith("charges_")]
    assert "CARD-302" in charges_csv and "CARD-101" not in charges_csv
    usage = list(csv.DictReader(io.StringIO(parts["id-tag-groups_2026-11.csv"])))
    assert usage == [{"group_id": apto, "label": "Apto 302", "energy_kwh": "7.500",
                      "charges": "1", "monthly_budget_kwh": "50.0"}]
    text = mail.message.get_body(("plain",)).get_content()
    assert f"{apto} (Apto 302): 7.500 kWh of 50 kWh in 1 charges" in text

    everyone = client.patch(f"/report-subscriptions/{sid}", json={"groups": []})
    assert everyone.json()["groups"] == [] and everyone.json()["group_usage"] is True
    plain = client.patch(f"/report-subscriptions/{sid}", json={"group_usage": False})
    assert plain.json()["group_usage"] is False


@pytest.mark.parametrize("body", [{"groups": ["NO-SUCH-GROUP"]}, {"groups": "G1"},
                                  {"group_usage": "sometimes"}])
def test_an_unknown_group_or_a_bad_value_is_422_naming_the_field(
        api: tuple[TestClient, Any], body: dict[str, Any]) -> None:
    client, _ = api
    name = next(iter(body))
    assert ("body", name) in [loc[:2] for loc in field_of(client.post(
        "/report-subscriptions", json={"recipients": ["a@save.example"], **body}))]
    sid = client.post("/report-subscriptions", json={"recipients": ["a@save.example"]}
                      ).json()["id"]
    assert ("body", name) in [loc[:2] for loc in field_of(client.patch(
        f"/report-subscriptions/{sid}", json=body))]
    assert client.get(f"/report-subscriptions/{sid}").json()["groups"] == []
