"""The report e-mail end to end: charges from simulated charging sessions, a real SMTP server
(aiosmtpd) that receives, and the received message parsed and checked row by row."""

from __future__ import annotations

import csv
import gzip
import io
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from save_server.bootstrap import Container
from save_server.domain.reports import RunState
from save_server.infrastructure.api.app import create_app
from save_server.infrastructure.db import tables
from save_server.infrastructure.reports.csv_report import COLUMNS
from save_server.infrastructure.reports.smtp import SmtpSecurity
from save_server.service.stations import update_station_details
from tests.support.api_keys import grant

pytestmark = pytest.mark.integration

# Subscription created on Tuesday 3 Nov 2026; default schedule Sunday 23:00 in Sao Paulo
# (UTC-3, no DST): the first window is [Sun 1 Nov 23:00-03, Sun 8 Nov 23:00-03).
CREATED = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
WINDOW_START = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
WINDOW_END = datetime(2026, 11, 9, 2, 0, tzinfo=UTC)
STATION_NAME = 'Garagem "Central", Bloco São João'


def utc(day: int, hour: int, minute: int = 0, second: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


def seed_week(charger: Callable[..., Any], feed_events: Callable[..., None],
              container: Container) -> dict[str, Any]:
    """Six charging sessions around the window; returns what the report must say."""
    s1, s2 = charger(f"CP-A-{uuid.uuid4().hex[:6]}"), charger(f"CP-B-{uuid.uuid4().hex[:6]}")
    feed_events(s1.boot(), s2.boot())
    update_station_details(container.uow_factory, s1.station_id, {"name": STATION_NAME})
    sessions = [  # station, connector, tx, tag, start, stop, meter start, meter stop, reason
        (s1, 1, 101, "TAG-A", utc(3, 10), utc(3, 11, 30, 15), 1000, 8500, "Local"),
        (s1, 2, 102, "TAG-B", utc(5, 20), utc(5, 20, 45), 0, 1234, "EmergencyStop"),
        (s2, 1, 201, "TAG-C", utc(2, 1), WINDOW_START, 500, 2500, "Remote"),  # on the start
        (s2, 1, 202, "TAG-D", utc(9, 1), WINDOW_END, 0, 100, "Local"),  # on the end: next one
        (s2, 2, 203, "TAG-F", utc(8, 9), utc(8, 10), 300, 11300, "EVDisconnected"),
    ]
    for station, connector, tx, tag, start, stop, m0, m1, reason in sessions:
        feed_events(station.start(connector, tx, m0, id_tag=tag, at=start),
                    station.stop(tx, m1, reason, at=stop))
    feed_events(s2.start(1, 204, 0, id_tag="TAG-E", at=utc(8, 12)))  # still charging
    expected = []
    for station, connector, tx, tag, start, stop, m0, m1, reason in sessions:
        if not start < WINDOW_END or not WINDOW_START <= stop < WINDOW_END:
            continue
        expected.append({
            "station_id": station.station_id, "transaction_id": str(tx),
            "station_name": STATION_NAME if station is s1 else "",
            "connector_id": str(connector), "id_tag": tag,
            "started_at": start, "ended_at": stop, "energy_wh": m1 - m0,
            "duration_seconds": int((stop - start).total_seconds()),
            "status": "finished" if reason in ("Local", "Remote") else "error",
            "stop_reason": reason})
    expected.sort(key=lambda row: row["ended_at"])
    return {"rows": expected, "stations": (s1.station_id, s2.station_id)}


def charge_ids(container: Container) -> dict[tuple[str, str], int]:
    c = tables.charges.c
    with container.engine.connect() as db:
        return {(r.station_id, r.transaction_id): r.id
                for r in db.execute(select(c.id, c.station_id, c.transaction_id))}


def attachment_rows(message: Any) -> tuple[str, list[dict[str, str]], bytes]:
    attachments = list(message.iter_attachments())
    assert len(attachments) == 1
    part = attachments[0]
    content = part.get_payload(decode=True)
    if part.get_content_type() == "application/gzip":
        assert part.get_filename().endswith(".csv.gz")
        content = gzip.decompress(content)
    else:
        assert part.get_content_type() == "text/csv"
    text = content.decode("utf-8")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    assert tuple(header) == COLUMNS
    return part.get_filename(), [dict(zip(header, row, strict=True)) for row in reader], content


def check_rows(rows: list[dict[str, str]], expected: list[dict[str, Any]],
               ids: dict[tuple[str, str], int], offset: str = "-03:00") -> None:
    assert len(rows) == len(expected)
    for row, want in zip(rows, expected, strict=True):
        assert row == {
            "charge_id": str(ids[(want["station_id"], want["transaction_id"])]),
            "station_id": want["station_id"], "station_name": want["station_name"],
            "connector_id": want["connector_id"], "id_tag": want["id_tag"],
            "started_at": _local_iso(want["started_at"], offset),
            "ended_at": _local_iso(want["ended_at"], offset),
            "energy_wh": str(want["energy_wh"]), "energy_kwh": f"{want['energy_wh'] / 1000:.3f}",
            "duration_seconds": str(want["duration_seconds"]),
            "duration": _hms(want["duration_seconds"]),
            "status": want["status"], "stop_reason": want["stop_reason"]}


def _local_iso(at: datetime, offset: str) -> str:
    sign = -1 if offset[0] == "-" else 1
    hours, minutes = int(offset[1:3]), int(offset[4:6])
    from datetime import timedelta, timezone
    zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
    return at.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S") + offset


def _hms(seconds: int) -> str:
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def test_weekly_report_is_received_with_every_charge_that_ended_in_the_window(
        container: Container, charger: Any, feed_events: Any, clock: Any,
        smtp_server: Any, make_reports: Any) -> None:
    """Start inclusive, end exclusive; charging sessions left out; CSV row by row; summary."""
    server = smtp_server()
    clock.now = CREATED
    reports = make_reports(server)
    subscription = reports.create_subscription(["admin@save.example", "ops@save.example"])
    seeded = seed_week(charger, feed_events, container)
    clock.now = WINDOW_END
    runs = reports.run_due()

    assert [r.state for r in runs] == [RunState.SENT]
    assert runs[0].window.start == WINDOW_START and runs[0].window.end == WINDOW_END
    assert runs[0].charge_count == 4 and runs[0].attempts == 1
    assert len(server.mailbox.received) == 1
    received = server.mailbox.received[0]
    assert received.rcpt_tos == list(subscription.recipients)
    message = received.message
    assert message["Subject"] == ("Charge report 2026-11-01 23:00 -0300 to "
                                  "2026-11-08 23:00 -0300")
    assert message["To"] == "admin@save.example, ops@save.example"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    total_kwh = sum(r["energy_wh"] for r in seeded["rows"]) / 1000
    for body in (text, html):
        assert "Charges: " in body and f"{total_kwh:.3f} kWh" in body
    assert "Charges: 4" in text and "Ended in error: 2" in text
    assert "<b>4</b>" in html and "<b>2</b>" in html
    s1, s2 = seeded["stations"]
    assert text.index(s2) < text.index(s1)  # s2 delivered more energy: listed first
    assert f"  {s2}: 13.000 kWh in 2 charges" in text
    assert f"  {s1} ({STATION_NAME}): 8.734 kWh in 2 charges" in text
    assert "Garagem &quot;Central&quot;, Bloco São João" in html  # escaped

    filename, rows, raw = attachment_rows(message)
    assert filename == "charges_20261101T2300_20261108T2300.csv"
    check_rows(rows, seeded["rows"], charge_ids(container))
    assert raw.count(b"\r\n") == 5 and b'"Garagem ""Central"", Bloco S\xc3\xa3o Jo' in raw


def test_a_large_attachment_is_gzip_compressed(container: Container, charger: Any,
                                               feed_events: Any, clock: Any, smtp_server: Any,
                                               make_reports: Any) -> None:
    server = smtp_server()
    clock.now = CREATED
    container.settings.report_attachment_compress_bytes = 200
    reports = make_reports(server)
    reports.create_subscription(["admin@save.example"])
    seeded = seed_week(charger, feed_events, container)
    clock.now = WINDOW_END
    reports.run_due()
    filename, rows, _ = attachment_rows(server.mailbox.received[0].message)
    assert filename.endswith(".csv.gz")
    check_rows(rows, seeded["rows"], charge_ids(container))


def test_starttls_with_a_self_signed_certificate(container: Container, clock: Any,
                                                 smtp_server: Any, make_reports: Any) -> None:
    """The server requires STARTTLS; the certificate is verified against the test's CA."""
    server = smtp_server(tls=True)
    clock.now = CREATED
    reports = make_reports(server, sender=server.sender(SmtpSecurity.STARTTLS))
    reports.create_subscription(["admin@save.example"])
    clock.now = WINDOW_END
    assert [r.state for r in reports.run_due()] == [RunState.SENT]
    assert len(server.mailbox.received) == 1 and server.mailbox.received[0].tls


def test_starttls_refuses_a_certificate_it_cannot_verify(container: Container, clock: Any,
                                                         smtp_server: Any,
                                                         make_reports: Any) -> None:
    from save_server.infrastructure.reports.smtp import SmtpEmailSender

    server = smtp_server(tls=True)
    clock.now = CREATED
    untrusting = SmtpEmailSender(server.host, server.port, SmtpSecurity.STARTTLS, timeout=10)
    reports = make_reports(server, sender=untrusting)
    reports.create_subscription(["admin@save.example"])
    clock.now = WINDOW_END
    [run] = reports.run_due()
    assert run.state is RunState.FAILED and "CERTIFICATE_VERIFY_FAILED" in (run.last_error or "")
    assert server.mailbox.received == []


def test_plain_smtp_to_a_server_that_requires_tls_is_refused(container: Container, clock: Any,
                                                             smtp_server: Any,
                                                             make_reports: Any) -> None:
    server = smtp_server(tls=True)
    clock.now = CREATED
    reports = make_reports(server, sender=server.sender(SmtpSecurity.NONE))
    reports.create_subscription(["admin@save.example"])
    clock.now = WINDOW_END
    [run] = reports.run_due()
    assert run.state is RunState.FAILED and "530" in (run.last_error or "")


def test_implicit_tls(container: Container, clock: Any, smtp_server: Any,
                      make_reports: Any) -> None:
    server = smtp_server(implicit=True)
    clock.now = CREATED
    reports = make_reports(server, sender=server.sender(SmtpSecurity.SSL))
    reports.create_subscription(["admin@save.example"])
    clock.now = WINDOW_END
    assert [r.state for r in reports.run_due()] == [RunState.SENT]
    assert server.mailbox.received[0].tls


def test_authentication_over_starttls(container: Container, clock: Any, smtp_server: Any,
                                      make_reports: Any) -> None:
    """AUTH only after TLS; the right password delivers, a wrong one fails the run (535)."""
    server = smtp_server(tls=True, users={"reporter": "s3cret"})
    clock.now = CREATED
    good = make_reports(server, sender=server.sender(SmtpSecurity.STARTTLS, "reporter", "s3cret"))
    first = good.create_subscription(["admin@save.example"])
    clock.now = WINDOW_END
    assert [r.state for r in good.run_due()] == [RunState.SENT]
    assert server.mailbox.received[0].login == b"reporter"

    good.delete_subscription(first.id)
    bad = make_reports(server, sender=server.sender(SmtpSecurity.STARTTLS, "reporter", "nope"))
    bad.create_subscription(["other@save.example"])
    clock.advance(days=7)
    [run] = bad.run_due()
    assert run.state is RunState.FAILED and "535" in (run.last_error or "")
    assert len(server.mailbox.received) == 1


def test_a_refusing_server_is_retried_with_backoff_then_the_run_is_failed_and_listed(
        container: Container, clock: Any, smtp_server: Any, make_reports: Any,
        sleeps: Any) -> None:
    server = smtp_server()
    server.mailbox.refuse = "550 5.7.1 Message rejected by policy"
    clock.now = CREATED
    reports = make_reports(server)
    reports.create_subscription(["admin@save.example"])
    clock.now = WINDOW_END
    [run] = reports.run_due()
    assert run.state is RunState.FAILED and run.attempts == 3
    assert server.mailbox.refused == 3 and sleeps == [0.5, 1.0]  # backoff, doubling
    assert reports.run_due() == []  # a failed window is not resent by the scheduler

    app = create_app(container.api_dependencies(), container.access_control(), reports)
    client = TestClient(app, headers=grant(container))
    listed = client.get("/reports/runs", params={"state": "failed"}).json()
    assert [(r["id"], r["state"], r["attempts"]) for r in listed] == [(run.id, "failed", 3)]
    assert "550" in listed[0]["last_error"] and listed[0]["sent_at"] is None

    server.mailbox.refuse = None
    retried = client.post(f"/reports/runs/{run.id}/retry")
    assert retried.status_code == 200, retried.text
    assert retried.json()["state"] == "sent" and retried.json()["attempts"] == 4
    assert len(server.mailbox.received) == 1
    again = client.post(f"/reports/runs/{run.id}/retry")
    assert again.status_code == 409 and "sent" in again.json()["detail"]
    assert client.post("/reports/runs/999999/retry").status_code == 404
