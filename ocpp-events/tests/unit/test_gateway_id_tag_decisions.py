"""The authorization rule (domain/authorization.py), one row per case, both OCPP versions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ocpp_events.domain.authorization import (
    Status,
    TokenRequest,
    UnknownIdTags,
    decide,
    well_formed,
)
from ocpp_events.domain.id_tags import IdTag

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
REJECT, ACCEPT = UnknownIdTags.REJECT, UnknownIdTags.ACCEPT


def card(**fields) -> IdTag:
    return IdTag(id_tag="CARD-1", revision=1, **fields)


def at(station: str = "CP-1", site: str | None = "site-a", token_type: str | None = None,
       id_tag: str = "card-1", evse: set[str] | None = None) -> TokenRequest:
    return TokenRequest(id_tag, station, site, token_type,
                        frozenset(evse) if evse is not None else None)


# (case, request, tag, running charges, unknown policy, status 1.6, status 2.0.1)
CASES = [
    ("registered and free", at(), card(), 0, REJECT, "Accepted", "Accepted"),
    ("unknown, reject policy", at(), None, 0, REJECT, "Invalid", "Invalid"),
    ("unknown, accept policy", at(), None, 0, ACCEPT, "Accepted", "Accepted"),
    ("blocked", at(), card(status="blocked"), 0, REJECT, "Blocked", "Blocked"),
    ("expired", at(), card(expires_at=NOW), 0, REJECT, "Expired", "Expired"),
    ("expires later", at(), card(expires_at=NOW + timedelta(seconds=1)), 0, REJECT,
     "Accepted", "Accepted"),
    ("budget exhausted", at(), card(budget_exhausted=True), 0, REJECT, "Blocked", "Blocked"),
    ("blocked wins over expired", at(), card(status="blocked", expires_at=NOW), 0, REJECT,
     "Blocked", "Blocked"),
    ("station not listed", at(), card(station_ids=frozenset({"CP-2"})), 0, REJECT,
     "Invalid", "NotAtThisLocation"),
    ("station listed", at(), card(station_ids=frozenset({"CP-1"})), 0, REJECT,
     "Accepted", "Accepted"),
    ("site not listed", at(), card(site_ids=frozenset({"site-b"})), 0, REJECT,
     "Invalid", "NotAtThisLocation"),
    ("site listed", at(), card(site_ids=frozenset({"site-a"})), 0, REJECT,
     "Accepted", "Accepted"),
    ("station of no site, sites restricted", at(site=None), card(site_ids=frozenset({"site-a"})),
     0, REJECT, "Invalid", "NotAtThisLocation"),
    ("station listed, its site not", at(), card(site_ids=frozenset({"site-b"}),
                                                 station_ids=frozenset({"CP-1"})), 0, REJECT,
     "Accepted", "Accepted"),
    ("limit reached", at(), card(), 1, REJECT, "ConcurrentTx", "ConcurrentTx"),
    ("below a higher limit", at(), card(max_concurrent_charges=2), 1, REJECT,
     "Accepted", "Accepted"),
    ("at a higher limit", at(), card(max_concurrent_charges=2), 2, REJECT,
     "ConcurrentTx", "ConcurrentTx"),
    ("2.0.1 token type differs", at(token_type="KeyCode"), card(token_type="ISO14443"), 0,
     REJECT, "Invalid", "Invalid"),
    ("2.0.1 token type matches", at(token_type="ISO14443"), card(token_type="ISO14443"), 0,
     REJECT, "Accepted", "Accepted"),
    ("tag of any type", at(token_type="KeyCode"), card(), 0, REJECT, "Accepted", "Accepted"),
    ("type mismatch wins over blocked", at(token_type="KeyCode"),
     card(token_type="ISO14443", status="blocked"), 0, REJECT, "Invalid", "Invalid"),
    ("empty token, accept policy", at(id_tag=""), None, 0, ACCEPT, "Invalid", "Invalid"),
    ("token with a space, accept policy", at(id_tag="AB CD"), None, 0, ACCEPT,
     "Invalid", "Invalid"),
    ("2.0.1 NoAuthorization, reject policy", at(id_tag="", token_type="NoAuthorization"), None,
     0, REJECT, "Invalid", "Invalid"),
    ("2.0.1 NoAuthorization, accept policy", at(id_tag="", token_type="NoAuthorization"), None,
     0, ACCEPT, "Accepted", "Accepted"),
    ("token with a control character, even registered", at(id_tag="CARD-1\n"), card(), 0,
     REJECT, "Invalid", "Invalid"),
    ("AC-only tag at a DC EVSE", at(evse={"DC"}), card(evse_types=frozenset({"AC"})), 0,
     REJECT, "Invalid", "NotAllowedTypeEVSE"),
    ("AC-only tag at an AC EVSE", at(evse={"AC"}), card(evse_types=frozenset({"AC"})), 0,
     REJECT, "Accepted", "Accepted"),
    ("AC-only tag, station with AC and DC (Authorize)", at(evse={"AC", "DC"}),
     card(evse_types=frozenset({"AC"})), 0, REJECT, "Accepted", "Accepted"),
    ("AC-only tag, EVSE type not declared", at(), card(evse_types=frozenset({"AC"})), 0,
     REJECT, "Accepted", "Accepted"),
    ("tag of every EVSE type at a DC EVSE", at(evse={"DC"}), card(), 0, REJECT,
     "Accepted", "Accepted"),
    ("location wins over EVSE type", at(evse={"DC"}),
     card(evse_types=frozenset({"AC"}), station_ids=frozenset({"CP-2"})), 0, REJECT,
     "Invalid", "NotAtThisLocation"),
    ("EVSE type wins over the limit", at(evse={"DC"}), card(evse_types=frozenset({"AC"})), 1,
     REJECT, "Invalid", "NotAllowedTypeEVSE"),
]


@pytest.mark.parametrize(("request_", "tag", "running", "unknown", "v16", "v201"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_decision(request_, tag, running, unknown, v16, v201) -> None:
    decision = decide(request_, tag, running, NOW, unknown)
    assert decision.status.for_version("1.6") == v16
    assert decision.status.for_version("2.0.1") == v201


def test_a_known_tag_answers_its_group_and_expiry_whatever_the_status() -> None:
    expiry = NOW + timedelta(days=30)
    for status in ("active", "blocked"):
        decision = decide(at(), card(group_id="APTO-302", expires_at=expiry, status=status),
                          0, NOW, REJECT)
        assert (decision.group_id, decision.expires_at, decision.known) == (
            "APTO-302", expiry, True)


def test_only_an_unknown_tag_accepted_by_the_policy_is_flagged_for_enrolment() -> None:
    assert decide(at(), None, 0, NOW, ACCEPT).unknown_accepted is True
    assert decide(at(), None, 0, NOW, REJECT).unknown_accepted is False
    assert decide(at(), card(), 0, NOW, ACCEPT).unknown_accepted is False
    assert decide(at(), None, 0, NOW, ACCEPT).known is False
    no_card = at(id_tag="", token_type="NoAuthorization")
    assert decide(no_card, None, 0, NOW, ACCEPT).unknown_accepted is False


@pytest.mark.parametrize(("token", "ok"), [
    ("04A2B3C4D5E6F7", True), ("NL-TNM-012204-5", True), ("a:b@c.d|e+f=g*h_i", True),
    ("", False), ("with space", False), ("tab\t", False), ("ação", False), ("~!", True),
    ("del\x7f", False), ("nbsp\xa0", False), ("line\n", False),
])
def test_well_formed_tokens_are_printable_ascii_without_spaces(token: str, ok: bool) -> None:
    assert well_formed(token) is ok


def test_only_the_location_and_evse_type_statuses_differ_between_versions() -> None:
    for status in Status:
        expected = "Invalid" if status in (Status.NOT_AT_THIS_LOCATION,
                                           Status.NOT_ALLOWED_TYPE_EVSE) else status.value
        assert status.for_version("1.6") == expected
        assert status.for_version("2.0.1") == status.value


def test_evse_types_travel_in_the_copies_and_bad_ones_are_refused() -> None:
    from ocpp_events.domain.id_tags import parse_tag, tag_document
    from ocpp_events.domain.station_registry import (
        InvalidRegistryEvent,
        parse_station,
        station_document,
    )

    tag = parse_tag({"id_tag": "C", "status": "active", "evse_types": ["AC"]}, 3)
    assert tag.evse_types == {"AC"} and parse_tag(tag_document(tag), 3) == tag
    assert parse_tag({"id_tag": "C", "status": "active"}, 3).evse_types is None  # older
    station = parse_station({"charging_station_id": "CP-1", "security_profile": 0,
                             "evse_types": {"1": "DC", "2": "AC"}}, 4)
    assert station.types_of(1) == {"DC"} and station.types_of(None) == {"AC", "DC"}
    assert station.types_of(3) is None
    assert parse_station(station_document(station), 4) == station
    for bad in (["Type2"], "AC", [1]):
        with pytest.raises(InvalidRegistryEvent):
            parse_tag({"id_tag": "C", "status": "active", "evse_types": bad}, 3)
    # "\u00b2" passes str.isdigit but not int(): still the contract's refusal, not a crash
    for declared in ({"0": "AC"}, {"one": "AC"}, {"1": "Type2"}, ["AC"], {"\u00b2": "AC"}):
        with pytest.raises(InvalidRegistryEvent):
            parse_station({"charging_station_id": "CP-1", "security_profile": 0,
                           "evse_types": declared}, 4)
