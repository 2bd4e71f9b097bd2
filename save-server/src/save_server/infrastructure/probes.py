"""Liveness and readiness: the checks, and the small HTTP server that a process without an
API (a worker, the scheduler) answers them on, next to its Prometheus /metrics (the APIs
have their own routes). The same module in save-server and event-store (they share no code)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

Check = Callable[[], bool]


class Heartbeat:
    """When a loop last showed progress; the process is live while that is recent."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last = clock()

    def beat(self) -> None:
        self._last = self._clock()

    def age(self) -> float:
        return self._clock() - self._last


class CachedCheck:
    """A check whose answer is reused for `ttl` seconds: a burst of probes costs one check
    (one AMQP connection, not hundreds). A check that raises counts as failed."""

    def __init__(self, check: Check, ttl: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._check, self._ttl, self._clock = check, ttl, clock
        self._lock = threading.Lock()
        self._value, self._checked_at = False, float("-inf")

    def __call__(self) -> bool:
        with self._lock:  # concurrent probes wait for the one check in flight
            if self._clock() - self._checked_at >= self._ttl:
                try:
                    self._value = bool(self._check())
                except Exception:
                    self._value = False
                self._checked_at = self._clock()
            return self._value


def run_checks(checks: Mapping[str, Check]) -> dict[str, bool]:
    """Each named check's result; a check that raises is False."""
    results = {}
    for name, check in checks.items():
        try:
            results[name] = bool(check())
        except Exception:
            results[name] = False
    return results


def readiness_answer(results: Mapping[str, bool]) -> tuple[int, dict[str, object]]:
    """(HTTP status, JSON body): 200 when every check passed, else 503 naming the failed."""
    not_ready = [name for name, ok in results.items() if not ok]
    if not_ready:
        return 503, {"status": "not ready", "not_ready": not_ready, "checks": dict(results)}
    return 200, {"status": "ready", "checks": dict(results)}


def start_probe_server(host: str, port: int, live: Check,
                       checks: Mapping[str, Check]) -> ThreadingHTTPServer:
    """Serve GET /metrics (Prometheus), /health (`live()`), /ready (`checks`), 404 otherwise,
    from a daemon thread; `server.shutdown()` stops it."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(), CONTENT_TYPE_LATEST)
            elif path == "/health":
                alive = live()
                self._json(200 if alive else 503, {"status": "ok" if alive else "stalled"})
            elif path == "/ready":
                self._json(*readiness_answer(run_checks(checks)))
            else:
                self._json(404, {"detail": "not found: /health /ready /metrics"})

        def _json(self, status: int, body: object) -> None:
            self._send(status, json.dumps(body).encode(), "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(HTTPStatus(status))
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:  # probes every few seconds: no access log
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="probe-server", daemon=True).start()
    return server
