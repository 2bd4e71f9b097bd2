"""The registry copy: last writer wins by revision, tombstones, snapshots, the file format,
and the example events validate against docs/events/station-registry.*.schema.json."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ocpp_events.domain.station_registry import InvalidRegistryEvent, RegistryState

from ..registry_events import (
    deregistered,
    envelope,
    new_password,
    password_entry,
    registered,
    snapshot,
    station,
)

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def test_example_events_match_their_schemas(validate_event) -> None:
    password = new_password()
    for event in [
        registered("CP-1", 2, password_entry(password)),
        registered("CP-1", 2, password_entry(password),
                   password_entry(new_password(), NOW + timedelta(hours=24)),
                   kind="password-changed"),
        registered("CP-1", 3, kind="station-updated", organization="SAVE", ocpp_version="2.0.1"),
        deregistered("CP-1"),
        snapshot([{**station("CP-2", 0), "revision": 7}], 9),
        envelope("station-registry.snapshot-requested", None, {"gateway_instance": "g1"}),
    ]:
        validate_event(event)


def test_a_registered_station_is_known_with_its_profile_and_password() -> None:
    state, password = RegistryState(), new_password()
    assert state.apply(registered("CP-1", 2, password_entry(password), revision=5)) == ["CP-1"]
    known = state.stations["CP-1"]
    assert (known.security_profile, known.revision, known.enabled) == (2, 5, True)
    assert known.password_matching(password.encode(), NOW) is not None
    assert known.password_matching(new_password().encode(), NOW) is None


def test_an_older_or_repeated_revision_changes_nothing() -> None:
    state = RegistryState()
    state.apply(registered("CP-1", 2, revision=10))
    assert state.apply(registered("CP-1", 0, kind="station-updated", revision=9)) == []
    assert state.apply(registered("CP-1", 0, kind="station-updated", revision=10)) == []
    assert state.stations["CP-1"].security_profile == 2


def test_a_deregistration_is_not_undone_by_an_older_update() -> None:
    state = RegistryState()
    state.apply(registered("CP-1", 1, revision=3))
    assert state.apply(deregistered("CP-1", revision=6)) == ["CP-1"]
    assert state.apply(registered("CP-1", 1, kind="station-updated", revision=4)) == []
    assert "CP-1" not in state.stations
    assert state.apply(registered("CP-1", 0, revision=7)) == ["CP-1"]  # registered again


def test_a_password_in_its_grace_period_matches_until_its_deadline() -> None:
    state, old, new = RegistryState(), new_password(), new_password()
    state.apply(registered("CP-1", 1, password_entry(new),
                           password_entry(old, NOW + timedelta(hours=1)),
                           kind="password-changed", revision=2))
    known = state.stations["CP-1"]
    assert known.password_matching(old.encode(), NOW) is not None
    assert known.password_matching(old.encode(), NOW + timedelta(hours=1)) is None
    assert known.password_matching(new.encode(), NOW + timedelta(days=30)) is not None


def test_a_snapshot_replaces_older_copies_and_removes_what_it_does_not_list() -> None:
    state = RegistryState()
    state.apply(registered("CP-old", 1, revision=3))  # deregistered while we were away
    state.apply(registered("CP-newer", 1, revision=20))  # registered after the snapshot
    state.apply(registered("CP-kept", 1, revision=4))
    changed = state.apply(snapshot([{**station("CP-kept", 2), "revision": 8},
                                    {**station("CP-added", 0), "revision": 5}], revision=10))
    assert sorted(changed) == ["CP-added", "CP-kept", "CP-old"]
    assert sorted(state.stations) == ["CP-added", "CP-kept", "CP-newer"]
    assert state.stations["CP-kept"].security_profile == 2
    assert state.apply(registered("CP-old", 1, kind="station-updated", revision=9)) == []


def test_the_file_document_round_trips() -> None:
    state, password = RegistryState(), new_password()
    state.apply(registered("CP-1", 2, password_entry(password, NOW), revision=3,
                           organization="SAVE", ocpp_version="1.6"))
    state.apply(deregistered("CP-2", revision=4))
    again = RegistryState.from_document(state.to_document())
    assert again == state


@pytest.mark.parametrize("mutate", [
    lambda e: e.pop("revision"),
    lambda e: e.update(revision=-1),
    lambda e: e["payload"].update(security_profile=4),
    lambda e: e["payload"].update(charging_station_id="CP-other"),
    lambda e: e["payload"]["passwords"].append({"algorithm": "md5", "salt": "00", "hash": "00"}),
    lambda e: e["payload"]["passwords"].append(
        {"algorithm": "sha256-salted", "salt": "00" * 16, "hash": "ab"}),
    lambda e: e.update(type="station-registry.station-renamed"),
])
def test_an_event_outside_the_contract_is_refused(mutate) -> None:
    event = registered("CP-1", 1, password_entry(new_password()))
    mutate(event)
    with pytest.raises(InvalidRegistryEvent):
        RegistryState().apply(event)
