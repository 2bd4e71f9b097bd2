"""Settings from the environment: an empty value means unset (compose passes `VAR=` through)."""

from __future__ import annotations

import pytest

from event_store.config import Settings


def test_empty_retention_means_keep_forever(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENT_STORE_RETENTION_DAYS", "")
    assert Settings().event_store_retention_days is None


def test_retention_in_days_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENT_STORE_RETENTION_DAYS", "30")
    assert Settings().event_store_retention_days == 30


def test_a_retention_below_one_day_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENT_STORE_RETENTION_DAYS", "0")
    with pytest.raises(ValueError, match="event_store_retention_days"):
        Settings()
