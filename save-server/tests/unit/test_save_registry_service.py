"""Registry use cases on the in-memory store when other writes come between a change's read of
a registration and its write: the change is made again from what the registration is now
(nothing another write did is lost), a registration deregistered meanwhile stays so, and a
change overtaken on every try gives up, writing nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from save_server.domain.registry import StationRegistration
from save_server.service.registry import (
    ATTEMPTS,
    RegistrationConflict,
    RegistrationNotFound,
    RegistryService,
)

from ..registry_memory import MemoryRegistryStore

NOW = datetime(2026, 12, 15, 12, 0, tzinfo=UTC)


class RacedStore(MemoryRegistryStore):
    """Runs the next of `after_read` right after a read of a registration (not after the
    reads that it makes itself): another operator's write between a change's read and its
    write."""

    def __init__(self) -> None:
        super().__init__()
        self.after_read: list[Callable[[], object]] = []
        self.reads = 0
        self._racing = False

    def registration(self, station_id: str) -> StationRegistration | None:
        found = super().registration(station_id)
        if not self._racing:
            self.reads += 1
            if self.after_read:
                self._racing = True
                try:
                    self.after_read.pop(0)()
                finally:
                    self._racing = False
        return found


@pytest.fixture
def store() -> RacedStore:
    return RacedStore()


@pytest.fixture
def registry(store: RacedStore) -> RegistryService:
    return RegistryService(store, clock=lambda: NOW)


@pytest.fixture
def other(store: RacedStore) -> RegistryService:
    """Another operator (or the gateways' reports) on the same registry."""
    return RegistryService(store, clock=lambda: NOW)


def current(store: RacedStore, station: str) -> StationRegistration:
    found = MemoryRegistryStore.registration(store, station)
    assert found is not None
    return found


def accepts(registration: StationRegistration, password: str) -> bool:
    return any(p.matches(password) for p in registration.passwords)


def written(store: RacedStore, kind: str) -> list[str]:
    return [e.type for e in store.published if e.type == kind]


def test_a_rotation_between_a_patchs_read_and_its_write_is_kept_with_the_patch(
        store: RacedStore, registry: RegistryService, other: RegistryService) -> None:
    first = registry.register("CP-1", 1, "op").password
    store.reads = 0
    rotations: list[str | None] = []
    store.after_read.append(lambda: rotations.append(other.rotate_password("CP-1",
                                                                           "other").password))
    patched = registry.update("CP-1", {"name": "Bay 9"}, "op")
    [new] = rotations
    assert new is not None and first is not None
    saved = current(store, "CP-1")
    assert saved == patched.registration and saved.name == "Bay 9"
    [now, previous] = saved.passwords
    assert now.matches(new) and now.valid_until is None  # the password the API gave out
    assert previous.matches(first) and previous.valid_until is not None
    assert patched.password is None  # it had passwords: none generated
    assert store.reads == 2  # read, overtaken, read again


def test_a_patch_between_a_rotations_read_and_its_write_is_kept_with_the_rotation(
        store: RacedStore, registry: RegistryService, other: RegistryService) -> None:
    registry.register("CP-1", 1, "op")
    store.after_read.append(lambda: other.update("CP-1", {"enabled": False}, "other"))
    rotated = registry.rotate_password("CP-1", "op")
    saved = current(store, "CP-1")
    assert rotated.password is not None and accepts(saved, rotated.password)
    assert saved.passwords[0].matches(rotated.password) and not saved.enabled


def test_a_proof_of_a_password_overtaken_by_its_rotation_drops_nothing(
        store: RacedStore, registry: RegistryService, other: RegistryService) -> None:
    """The station proved the new password while another rotation made that one the
    previous: dropping the previous then would drop the newest password."""
    registry.register("CP-1", 1, "op")
    proved = registry.rotate_password("CP-1", "op")
    assert proved.password is not None
    salt = proved.registration.passwords[0].salt
    rotations: list[str | None] = []
    store.after_read.append(lambda: rotations.append(other.rotate_password("CP-1",
                                                                           "other").password))
    registry.drop_previous_password("CP-1", salt)
    [newest] = rotations
    saved = current(store, "CP-1")
    assert newest is not None and saved.passwords[0].matches(newest)
    assert accepts(saved, proved.password)  # still in its grace period
    assert written(store, "registry.previous-password-dropped") == []


def test_a_change_overtaken_on_every_try_gives_up_and_writes_nothing(
        store: RacedStore, registry: RegistryService, other: RegistryService) -> None:
    registry.register("CP-1", 0, "op")
    store.reads = 0
    store.after_read += [lambda i=i: other.update("CP-1", {"name": f"theirs {i}"}, "other")
                         for i in range(ATTEMPTS)]
    with pytest.raises(RegistrationConflict, match="nothing was changed"):
        registry.update("CP-1", {"enabled": False}, "op")
    saved = current(store, "CP-1")
    assert (saved.name, saved.enabled) == (f"theirs {ATTEMPTS - 1}", True)
    assert [e.principal for e in store.published if e.type == "registry.station-updated"
            ] == ["other"] * ATTEMPTS
    assert store.reads == ATTEMPTS


def test_a_change_overtaken_by_a_deregistration_is_not_found_and_writes_nothing(
        store: RacedStore, registry: RegistryService, other: RegistryService) -> None:
    registry.register("CP-1", 1, "op")
    store.after_read.append(lambda: other.deregister("CP-1", "other"))
    with pytest.raises(RegistrationNotFound):
        registry.update("CP-1", {"enabled": False}, "op")
    assert MemoryRegistryStore.registration(store, "CP-1") is None
    assert written(store, "registry.station-updated") == []
    assert registry.drop_previous_password("CP-1") is None
