"""`CSMS_GC_THRESHOLD`: the embedded process's cyclic-collector thresholds."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from csms_embedded.__main__ import GC_THRESHOLD, _gc_threshold


@pytest.fixture(autouse=True)
def restored_threshold() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


def test_unset_sets_the_embedded_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CSMS_GC_THRESHOLD", raising=False)
    gc.set_threshold(700, 10, 10)
    _gc_threshold()
    assert gc.get_threshold() == tuple(int(p) for p in GC_THRESHOLD.split(","))
    assert gc.get_threshold()[0] > 700  # collects less often than CPython's default


def test_a_given_threshold_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSMS_GC_THRESHOLD", "700,10,10")
    _gc_threshold()
    assert gc.get_threshold() == (700, 10, 10)


@pytest.mark.parametrize("value", ["0,10,10", "700,10", "a,b,c", "700,-1,10", "1,2,3,4"])
def test_a_bad_threshold_stops_with_a_message(monkeypatch: pytest.MonkeyPatch,
                                              value: str) -> None:
    monkeypatch.setenv("CSMS_GC_THRESHOLD", value)
    before = gc.get_threshold()
    with pytest.raises(SystemExit, match="CSMS_GC_THRESHOLD must be three integers"):
        _gc_threshold()
    assert gc.get_threshold() == before
