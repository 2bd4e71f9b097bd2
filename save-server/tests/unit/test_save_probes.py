"""The probe building blocks: cached checks, readiness answers and the probe HTTP server."""

from __future__ import annotations

import httpx

from save_server.infrastructure.probes import (
    CachedCheck,
    Heartbeat,
    readiness_answer,
    run_checks,
    start_probe_server,
)
from tests.support.ports import free_port


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now




def test_a_cached_check_runs_once_per_ttl_however_often_it_is_asked() -> None:
    clock, calls = FakeClock(), []
    check = CachedCheck(lambda: calls.append(1) or True, ttl=5, clock=clock)
    assert all(check() for _ in range(100))
    assert len(calls) == 1
    clock.now += 5
    assert check()
    assert len(calls) == 2


def test_a_check_that_raises_is_not_ready() -> None:
    def broken() -> bool:
        raise ConnectionError("refused")

    assert CachedCheck(broken, ttl=5)() is False
    assert run_checks({"database": lambda: True, "broker": broken}) == {
        "database": True, "broker": False}


def test_readiness_answer_is_503_naming_what_is_not_ready() -> None:
    assert readiness_answer({"database": True, "broker": True}) == (
        200, {"status": "ready", "checks": {"database": True, "broker": True}})
    status, body = readiness_answer({"database": True, "broker": False})
    assert (status, body["not_ready"]) == (503, ["broker"])


def test_heartbeat_age_grows_until_the_next_beat() -> None:
    clock = FakeClock()
    heartbeat = Heartbeat(clock)
    clock.now += 61
    assert heartbeat.age() == 61
    heartbeat.beat()
    assert heartbeat.age() == 0


def test_probe_server_paths() -> None:
    state = {"live": True, "broker": True}
    port = free_port()
    server = start_probe_server("127.0.0.1", port, lambda: state["live"],
                                {"broker": lambda: state["broker"], "database": lambda: True})
    base = f"http://127.0.0.1:{port}"
    try:
        assert httpx.get(f"{base}/health").json() == {"status": "ok"}
        assert httpx.get(f"{base}/ready").status_code == 200
        assert "save_server_events_processed_total" in httpx.get(f"{base}/metrics").text
        assert httpx.get(f"{base}/anything").status_code == 404
        state.update(live=False, broker=False)
        assert httpx.get(f"{base}/health").status_code == 503
        not_ready = httpx.get(f"{base}/ready")
        assert (not_ready.status_code, not_ready.json()["not_ready"]) == (503, ["broker"])
    finally:
        server.shutdown()
        server.server_close()
