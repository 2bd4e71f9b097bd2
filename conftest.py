"""Markers follow the test's folder (README, "Tests"): every test under `*/tests/integration`
is `integration`, under `*/tests/contract` is `contract`, so a file moved there needs no marker
of its own; and a test under `*/tests/unit` needs no server, so one marked as needing one is an
error."""

from __future__ import annotations

import pytest

FOLDER_MARKERS = {"integration": "integration", "contract": "contract"}
SERVER_MARKERS = ("integration", "mongo", "e2e")


def _tests_folder(item: pytest.Item) -> str | None:
    parts = item.path.parts
    for index in range(len(parts) - 3, -1, -1):  # the innermost `tests` folder
        if parts[index] == "tests":
            return parts[index + 1]
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The whole-platform files (top-level tests/: a platform started per file, a minute or
    # more each) first: with `make test`'s two workers, which take a file at a time in this
    # order (--no-loadscope-reorder), both then end on the packages' short files together
    # instead of one waiting out the other's last end-to-end file.
    platforms = config.rootpath / "tests"
    items.sort(key=lambda item: not item.path.is_relative_to(platforms))  # stable
    for item in items:
        folder = _tests_folder(item)
        if folder in FOLDER_MARKERS:
            item.add_marker(FOLDER_MARKERS[folder])
        elif folder == "unit":
            needs = [m for m in SERVER_MARKERS if item.get_closest_marker(m)]
            if needs:
                raise pytest.UsageError(
                    f"{item.nodeid}: a unit test needs no server, but it is marked {needs}; "
                    "move it to tests/integration")
