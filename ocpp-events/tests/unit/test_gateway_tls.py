"""Security profiles 2 and 3 over real TLS: certificates are made at test time (trustme),
never committed. Covers the issue's certificate refusals, TLS 1.0, and reloading the server
certificate without a restart."""

from __future__ import annotations

import asyncio
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import trustme
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidMessage

from ocpp_events.infrastructure.registry_memory import InMemoryStationRegistry

from ..registry_events import new_password, password_entry, registered
from .test_gateway_handshake_admission import (
    basic,
    call,
    new_id,
    refusal,
    refused_events,
    url,
    wait_for,
)

ORGANIZATION = "SAVE Condominios"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA(organization_name="SAVE test CA")


def server_files(ca: trustme.CA, folder: Path, **options) -> tuple[Path, Path]:
    leaf = ca.issue_cert("127.0.0.1", "localhost", **options)
    cert, key = folder / "server.pem", folder / "server.key"
    cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    key.write_bytes(leaf.private_key_pem.bytes())
    return cert, key


@pytest.fixture
def tls_files(ca, tmp_path) -> dict[str, Path]:
    cert, key = server_files(ca, tmp_path)
    ca_file = tmp_path / "client-ca.pem"
    ca_file.write_bytes(ca.cert_pem.bytes())
    return {"cert": cert, "key": key, "client_ca": ca_file}


@pytest.fixture
def registry() -> InMemoryStationRegistry:
    return InMemoryStationRegistry()


@pytest.fixture
async def gateway(make_gateway, notifier, registry, tls_files):
    return await make_gateway(
        notifier, station_registry=registry, gateway_unknown_stations="reject",
        gateway_tls_cert_file=tls_files["cert"], gateway_tls_key_file=tls_files["key"],
        gateway_tls_client_ca_file=tls_files["client_ca"],
        gateway_certificate_organization=ORGANIZATION, gateway_tls_reload_interval=0.05)


def client_context(ca: trustme.CA,
                   certificate: trustme.LeafCert | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    if certificate is not None:
        certificate.configure_cert(context)
    return context


def station_certificate(ca: trustme.CA, common_name: str, **options) -> trustme.LeafCert:
    return ca.issue_cert(f"{common_name.lower()}.stations.example", common_name=common_name,
                         organization_name=options.pop("organization_name", ORGANIZATION),
                         **options)


@pytest.mark.parametrize(("subprotocol", "boot"), [
    ("ocpp1.6", {"chargePointVendor": "V", "chargePointModel": "M"}),
    ("ocpp2.0.1", {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}})])
async def test_profile_2_station_connects_over_wss_with_its_password(
        gateway, registry, ca, notifier, subprotocol, boot) -> None:
    station_id, password = new_id(), new_password()
    registry.apply(registered(station_id, 2, password_entry(password)))
    async with connect(url(gateway, station_id, "wss"), ssl=client_context(ca),
                       subprotocols=[subprotocol],
                       additional_headers=basic(station_id, password)) as ws:
        assert (await call(ws, "BootNotification", boot))[2]["status"] == "Accepted"
        version = ws.transport.get_extra_info("ssl_object").version()
        assert version in ("TLSv1.2", "TLSv1.3")
    assert notifier.of_type("ocpp-events.connect")[0].payload["security_profile"] == 2


async def test_profile_2_station_without_password_on_wss_is_401(gateway, registry, ca) -> None:
    station_id = new_id()
    registry.apply(registered(station_id, 2, password_entry(new_password())))
    refused = await refusal(url(gateway, station_id, "wss"), ssl=client_context(ca))
    assert refused.response.status_code == 401


async def test_profile_3_station_connects_with_its_certificate(
        gateway, registry, ca, notifier, validate_event) -> None:
    station_id = new_id()
    registry.apply(registered(station_id, 3))
    context = client_context(ca, station_certificate(ca, station_id))
    async with connect(url(gateway, station_id, "wss"), ssl=context,
                       subprotocols=["ocpp2.0.1"]) as ws:
        assert (await call(ws, "Heartbeat", {}))[0] == 3
    event = notifier.of_type("ocpp-events.connect")[0]
    validate_event(event.to_dict())
    assert event.payload["credential"] == "client-certificate"


async def test_certificate_for_another_station_id_is_403(
        gateway, registry, ca, notifier, validate_event) -> None:
    station_id = new_id()
    registry.apply(registered(station_id, 3))
    context = client_context(ca, station_certificate(ca, new_id()))
    refused = await refusal(url(gateway, station_id, "wss"), ssl=context)
    assert refused.response.status_code == 403
    await wait_for(lambda: bool(refused_events(notifier)))
    event = refused_events(notifier)[0]
    validate_event(event.to_dict())
    assert (event.payload["reason"], event.payload["tls"]) == (
        "certificate-station-mismatch", True)


async def test_certificate_of_another_organisation_is_403(gateway, registry, ca) -> None:
    station_id = new_id()
    registry.apply(registered(station_id, 3))
    context = client_context(ca, station_certificate(ca, station_id,
                                                     organization_name="Other operator"))
    assert (await refusal(url(gateway, station_id, "wss"), ssl=context)
            ).response.status_code == 403


async def test_profile_3_station_without_a_certificate_is_403(gateway, registry, ca) -> None:
    station_id = new_id()
    registry.apply(registered(station_id, 3))
    assert (await refusal(url(gateway, station_id, "wss"), ssl=client_context(ca))
            ).response.status_code == 403


async def tls_refused(gateway, station_id: str, context: ssl.SSLContext) -> Exception:
    """The TLS layer refuses before any HTTP: no upgrade, no session, nothing registered.
    (With TLS 1.3 the client learns it only when reading: no HTTP response comes.)"""
    with pytest.raises((ssl.SSLError, OSError, EOFError, InvalidMessage)) as failed:
        async with connect(url(gateway, station_id, "wss"), ssl=context,
                           subprotocols=["ocpp1.6"], open_timeout=5) as ws:
            await ws.recv()
    assert gateway.ocpp.registry.get(station_id) is None
    return failed.value


async def test_client_certificate_from_another_ca_is_refused_by_tls(
        gateway, registry, ca) -> None:
    station_id = new_id()
    registry.apply(registered(station_id, 3))
    stranger = trustme.CA(organization_name=ORGANIZATION)
    await tls_refused(gateway, station_id,
                      client_context(ca, station_certificate(stranger, station_id)))


async def test_expired_client_certificate_is_refused_by_tls(gateway, registry, ca) -> None:
    station_id = new_id()
    registry.apply(registered(station_id, 3))
    expired = station_certificate(ca, station_id,
                                  not_before=datetime.now(UTC) - timedelta(days=30),
                                  not_after=datetime.now(UTC) - timedelta(days=1))
    await tls_refused(gateway, station_id, client_context(ca, expired))


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1 is deprecated:DeprecationWarning")
async def test_tls_1_0_client_is_refused(gateway, registry, ca) -> None:
    station_id = new_id()
    registry.apply(registered(station_id, 0))
    context = client_context(ca)
    context.minimum_version = ssl.TLSVersion.TLSv1
    context.maximum_version = ssl.TLSVersion.TLSv1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # let our client offer TLS 1.0 at all
    error = await tls_refused(gateway, station_id, context)
    # the server refused it (an alert, or a reset), not our own client before sending
    assert "no protocols available" not in str(error).lower(), error
    context.maximum_version = ssl.TLSVersion.TLSv1_2  # the same client otherwise gets in
    async with connect(url(gateway, station_id, "wss"), ssl=context,
                       subprotocols=["ocpp1.6"]) as ws:
        assert (await call(ws, "Heartbeat", {}))[0] == 3


def served_certificate_expiry(gateway, ca) -> datetime:
    import socket

    context = client_context(ca)
    with socket.create_connection(("127.0.0.1", gateway.ocpp.port)) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        not_after = tls.getpeercert()["notAfter"]
    return datetime.fromtimestamp(ssl.cert_time_to_seconds(not_after), UTC)


async def test_a_replaced_certificate_is_served_without_a_restart(
        gateway, ca, tls_files, tmp_path) -> None:
    before = await asyncio.to_thread(served_certificate_expiry, gateway, ca)
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(days=400)
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    cert, key = server_files(ca, fresh, not_after=later)
    key.replace(tls_files["key"])
    cert.replace(tls_files["cert"])
    await wait_for(lambda: gateway.tls.reloads == 1)
    after = await asyncio.to_thread(served_certificate_expiry, gateway, ca)
    assert after != before and after == later
    async with httpx.AsyncClient() as http:
        ready = await http.get(f"http://127.0.0.1:{gateway.health.port}/ready")
        metrics = (await http.get(f"http://127.0.0.1:{gateway.health.port}/metrics")).text
    assert later.isoformat() in ready.text
    days = next(float(line.split()[-1]) for line in metrics.splitlines()
                if line.startswith("ocpp_gateway_tls_certificate_days_to_expiry"))
    assert 399 < days <= 400


async def test_a_broken_replacement_keeps_the_old_certificate(gateway, ca, tls_files) -> None:
    before = await asyncio.to_thread(served_certificate_expiry, gateway, ca)
    other_key = ca.issue_cert("127.0.0.1").private_key_pem.bytes()
    tls_files["key"].write_bytes(other_key)  # no longer matches the certificate
    assert gateway.tls.reload() is False
    assert await asyncio.to_thread(served_certificate_expiry, gateway, ca) == before


async def test_plain_ws_is_not_served_on_a_tls_port(gateway, registry) -> None:
    station_id = new_id()
    registry.apply(registered(station_id, 0))
    with pytest.raises(Exception):  # noqa: B017 - any failure: the port speaks TLS only
        async with connect(url(gateway, station_id), subprotocols=["ocpp1.6"],
                           open_timeout=3):
            pass


async def test_a_blocked_address_is_dropped_right_after_the_tls_handshake(
        make_gateway, notifier, registry, tls_files, ca) -> None:
    gateway = await make_gateway(
        notifier, station_registry=registry, gateway_unknown_stations="reject",
        gateway_tls_cert_file=tls_files["cert"], gateway_tls_key_file=tls_files["key"],
        gateway_handshake_failures_per_address=1)
    station_id, password = new_id(), new_password()
    registry.apply(registered(station_id, 2, password_entry(password)))
    assert (await refusal(url(gateway, station_id, "wss"), ssl=client_context(ca))
            ).response.status_code == 401
    with pytest.raises((InvalidMessage, OSError)):
        async with connect(url(gateway, station_id, "wss"), ssl=client_context(ca),
                           subprotocols=["ocpp1.6"],
                           additional_headers=basic(station_id, password)):
            pass
    assert gateway.ocpp.registry.get(station_id) is None
    metrics = gateway.services.metrics.render().decode()
    assert 'ocpp_gateway_handshakes_refused_total{reason="rate-limited"} 1.0' in metrics
