"""The id tag registry copy: last writer wins per tag by revision, tombstones, snapshots,
active charges, the file format; the local starts and stops on top of save-server's view; the
example events validate against docs/events/id-tag-registry.*.schema.json."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ocpp_events.domain.id_tags import ChargeRef, IdTagState, tag_document
from ocpp_events.domain.local_charges import MAX_PENDING_STOPS, STALE_AFTER, LocalCharges
from ocpp_events.domain.station_registry import InvalidRegistryEvent

from ..id_tag_events import active_charges, charges, removed, snapshot, tag, updated
from ..registry_events import envelope

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def test_example_events_match_their_schemas(validate_event) -> None:
    for event in [
        updated("04A2B3C4", token_type="ISO14443", group_id="APTO-302",
                expires_at="2027-01-01T00:00:00Z", site_ids=["site-a"], station_ids=["CP-1"],
                max_concurrent_charges=2, budget_exhausted=True),
        updated("04A2B3C4", status="blocked"),
        removed("04A2B3C4"),
        active_charges("04A2B3C4", ("CP-1", "1234"), ("CP-2", "tx-9")),
        snapshot([{**tag("A"), "revision": 3}], 9,
                 [{"id_tag": "A", "charges": charges(("CP-1", "7")), "revision": 4}]),
        envelope("id-tag-registry.snapshot-requested", None, {"gateway_instance": "g1"}),
    ]:
        validate_event(event)


def test_the_copy_round_trips_through_its_file_document_and_the_tag_schema(
        validate_event) -> None:
    state = IdTagState()
    state.apply(updated("Card-1", revision=5, group_id="G", expires_at="2027-01-01T00:00:00Z",
                        site_ids=["s"], max_concurrent_charges=3))
    state.apply(removed("gone", revision=6))
    state.apply(active_charges("card-1", ("CP-1", "42"), revision=7))
    copy = IdTagState.from_document(state.to_document())
    assert copy.tags == state.tags and copy.tombstones == {"gone": 6}
    assert copy.active_charges("CARD-1").charges == {ChargeRef("CP-1", "42")}
    assert copy.owners == {ChargeRef("CP-1", "42"): "card-1"}
    validate_event(snapshot([tag_document(t) for t in copy.tags.values()], 7))


def test_tags_match_case_insensitively_and_keep_their_spelling() -> None:
    state = IdTagState()
    assert state.apply(updated("AbC-123", revision=1)) == ["abc-123"]
    assert state.get("abc-123").id_tag == "AbC-123"
    assert state.get("ABC-123") is state.get("aBc-123")


def test_an_older_or_repeated_revision_changes_nothing() -> None:
    state = IdTagState()
    state.apply(updated("A", revision=10, status="blocked"))
    assert state.apply(updated("a", revision=10)) == []
    assert state.apply(updated("A", revision=9)) == []
    assert state.get("A").status == "blocked"
    assert state.apply(updated("A", revision=11)) == ["a"]
    assert state.get("A").status == "active"


def test_a_removal_leaves_a_tombstone_that_older_updates_cannot_pass() -> None:
    state = IdTagState()
    state.apply(updated("A", revision=10))
    assert state.apply(removed("A", revision=12)) == ["a"]
    assert state.get("A") is None
    assert state.apply(updated("A", revision=11)) == []
    assert state.get("A") is None
    assert state.apply(updated("A", revision=13)) == ["a"]
    assert state.tombstones == {}


def test_active_charges_are_last_writer_wins_separately_from_the_tag() -> None:
    state = IdTagState()
    state.apply(updated("A", revision=10))
    state.apply(active_charges("A", ("CP-1", "1"), revision=12))
    state.apply(active_charges("A", ("CP-1", "1"), ("CP-2", "2"), revision=11))  # older
    assert state.active_charges("a").charges == {ChargeRef("CP-1", "1")}
    state.apply(updated("A", revision=13, status="blocked"))  # the tag moves on alone
    assert state.active_charges("a").revision == 12
    state.apply(active_charges("A", revision=14))
    assert state.active_charges("a").charges == frozenset()
    assert state.owners == {}


def test_a_snapshot_adds_replaces_and_removes_what_it_does_not_list() -> None:
    state = IdTagState()
    state.apply(updated("old", revision=5))
    state.apply(updated("newer", revision=30))  # changed after the snapshot was taken
    state.apply(updated("kept", revision=6, status="blocked"))
    state.apply(active_charges("old", ("CP-1", "1"), revision=7))
    changed = state.apply(snapshot(
        [{**tag("kept"), "revision": 8}, {**tag("fresh"), "revision": 9}], 20,
        [{"id_tag": "kept", "charges": charges(("CP-2", "2")), "revision": 9}]))
    assert sorted(changed) == ["fresh", "kept", "old"]
    assert set(state.tags) == {"kept", "fresh", "newer"}
    assert state.get("kept").status == "active"
    assert state.tombstones == {"old": 20}
    assert state.active_charges("old") is None
    assert state.owners == {ChargeRef("CP-2", "2"): "kept"}


def test_a_snapshot_older_than_a_held_change_does_not_undo_it() -> None:
    state = IdTagState()
    state.apply(removed("A", revision=50))
    state.apply(snapshot([{**tag("A"), "revision": 40}], 45))
    assert state.get("A") is None


@pytest.mark.parametrize("event", [
    {"type": "id-tag-registry.tag-updated", "payload": tag("A")},  # no revision
    updated("A") | {"payload": {**tag("A"), "status": "lost"}},
    updated("A") | {"payload": {**tag("A"), "max_concurrent_charges": 0}},
    updated("A") | {"payload": {**tag("A"), "expires_at": "2027-01-01T00:00:00"}},  # naive
    updated("A") | {"payload": {**tag("A"), "site_ids": "site-a"}},
    updated("A") | {"payload": {**tag(""), "status": "active"}},
    active_charges("A") | {"payload": {"id_tag": "A", "charges": [{"transaction_id": "1"}]}},
    envelope("id-tag-registry.tag-renamed", None, {}, 3),
    snapshot([], 3) | {"payload": {"tags": []}},
])
def test_events_outside_the_contract_are_refused(event) -> None:
    with pytest.raises(InvalidRegistryEvent):
        IdTagState().apply(event)


ONE, TWO = ChargeRef("CP-1", "1"), ChargeRef("CP-2", "2")


def test_local_starts_add_to_and_local_stops_subtract_from_save_servers_view() -> None:
    state, local = IdTagState(), LocalCharges()
    state.apply(active_charges("A", ("CP-1", "1"), revision=5))
    local.started("a", TWO, NOW)
    assert local.running("a", state.active_charges("a"), NOW) == 2
    assert local.running("a", state.active_charges("a"), NOW, excluded=TWO) == 1
    local.stopped("a", ONE, state.active_charges("a"))
    assert local.running("a", state.active_charges("a"), NOW) == 1
    local.cancel_start("a", TWO)
    assert local.running("a", state.active_charges("a"), NOW) == 0


def test_save_servers_newer_view_takes_over_local_starts_and_stops() -> None:
    state, local = IdTagState(), LocalCharges()
    local.started("a", ONE, NOW)
    local.stopped("a", ChargeRef("CP-9", "9"), None)
    state.apply(active_charges("A", ("CP-1", "1"), revision=5))  # lists the local start
    local.reconcile("a", state.active_charges("a"), NOW)
    assert (local.starts, local.stops, local.owners) == ({}, {}, {})
    assert local.running("a", state.active_charges("a"), NOW) == 1
    local.stopped("a", ONE, state.active_charges("a"))  # seen here before save-server
    local.reconcile("a", state.active_charges("a"), NOW)  # save-server still lists it
    assert local.running("a", state.active_charges("a"), NOW) == 0


def test_a_local_start_save_server_never_lists_is_forgotten_after_a_while() -> None:
    local = LocalCharges()
    local.started("a", ONE, NOW)
    local.reconcile("a", None, NOW + STALE_AFTER)
    assert local.running("a", None, NOW + STALE_AFTER) == 1
    later = NOW + STALE_AFTER + timedelta(seconds=1)
    assert local.running("a", None, later) == 0  # without any newer view from save-server
    local.reconcile("a", None, later)
    assert local.starts == {} and local.owner(ONE) is None


def test_stops_of_charges_nothing_counts_are_kept_up_to_a_bound_oldest_dropped_first() -> None:
    """A station stopping transactions of unknown tags: save-server never publishes a view of
    those tags, so nothing else would ever forget these stops."""
    local = LocalCharges()
    for n in range(MAX_PENDING_STOPS + 50):
        local.stopped(f"unknown-{n}", ChargeRef("CP-1", str(n)), None)
    assert sum(len(refs) for refs in local.stops.values()) == MAX_PENDING_STOPS
    assert len(local.stops) == len(local.pending) == MAX_PENDING_STOPS
    assert "unknown-0" not in local.stops and f"unknown-{MAX_PENDING_STOPS + 49}" in local.stops


def test_stops_of_counted_charges_are_never_dropped_for_the_bound() -> None:
    state, local = IdTagState(), LocalCharges()
    state.apply(active_charges("A", ("CP-1", "1"), revision=5))
    local.started("b", TWO, NOW)
    local.stopped("a", ONE, state.active_charges("a"))  # listed by save-server
    local.stopped("b", TWO, None)  # a local start
    late = ChargeRef("CP-3", "3")
    local.stopped("a", late, state.active_charges("a"))  # save-server lists it only later
    state.apply(active_charges("A", ("CP-1", "1"), ("CP-3", "3"), revision=6))
    local.reconcile("a", state.active_charges("a"), NOW)
    for n in range(MAX_PENDING_STOPS + 1):
        local.stopped(f"unknown-{n}", ChargeRef("CP-9", str(n)), None)
    assert local.stops["a"] == {ONE, late} and local.stops["b"] == {TWO}
    assert local.running("a", state.active_charges("a"), NOW) == 0


def test_a_station_object_carries_its_site_or_none() -> None:
    from ocpp_events.domain.station_registry import RegistryState

    from ..registry_events import registered

    state = RegistryState()
    with_site = registered("CP-s", 0)
    with_site["payload"]["site_id"] = "site-a"
    state.apply(with_site)
    state.apply(registered("CP-n", 0))  # no site_id at all: null
    assert (state.stations["CP-s"].site_id, state.stations["CP-n"].site_id) == ("site-a", None)
    wrong = registered("CP-w", 0)
    wrong["payload"]["site_id"] = 5
    with pytest.raises(InvalidRegistryEvent):
        state.apply(wrong)
