"""The overview's live updates in a real browser: does 100 events/s on 1,000 stations freeze
the page? Debian's Chromium (headless, Playwright) opens the overview of a save-server app
served by uvicorn in this process (SQLite seeded with N stations, 1 in 20 faulted, so the
first page is the 50 faulted ones), signed in, live feed on. Three phases of `--seconds`
each, in this order, in the same browser page:

- `idle`: no events (the baseline of the same run);
- `spread`: 100 StatusNotifications/s spread over every station (each 0.5 s tick of the live
  feed carries ~50 stations, a few of them on the page);
- `hot`: 100/s on the 50 stations of the page (every tick redraws up to 50 rows).

With `--before-script FILE` (an older `dashboard.js`, e.g. `git show
main:save-server/src/save_server/infrastructure/dashboard/static/dashboard.js`), the two
loaded phases run once with that script (served in place of the page's own) and once with the
page's own, alternated: the same-run comparison of a change to the script.

In the page: long tasks (PerformanceObserver `longtask`, > 50 ms), the time between animation
frames (requestAnimationFrame), the lag of a 100 ms timer (how late the main thread answers),
and the state badges redrawn (a MutationObserver: proof that the updates arrived).

    flock /tmp/csms-bench.lock .venv/bin/python -m bench.dashboard.live_browser \
        [--before-script /tmp/dashboard-before.js]
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn

from bench.common.machine import load_line, machine_lines, percentile
from bench.dashboard.overview import PASSWORD, event, seed
from save_server.bootstrap import bootstrap
from save_server.config import Settings
from save_server.domain.access import Role
from save_server.infrastructure.db.engine import migrate
from save_server.service.ingest import ingest_events

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update"]
EVENTS_PER_SECOND = 100
PROBES = """
window.__bench = {long: [], frames: [], lag: [], redrawn: 0};
(function () {
  new PerformanceObserver(function (list) {
    list.getEntries().forEach(function (e) { window.__bench.long.push(e.duration); });
  }).observe({type: "longtask", buffered: true});
  var last = performance.now();
  function frame(t) { window.__bench.frames.push(t - last); last = t;
                      requestAnimationFrame(frame); }
  requestAnimationFrame(frame);
  var expected = performance.now() + 100;
  setInterval(function () { var now = performance.now();
    window.__bench.lag.push(Math.max(0, now - expected)); expected = now + 100; }, 100);
  document.addEventListener("DOMContentLoaded", function () {
    var body = document.querySelector("#stations tbody");
    if (!body) { return; }
    new MutationObserver(function (records) {
      records.forEach(function (r) {
        if (r.target.classList && r.target.classList.contains("state")) {
          window.__bench.redrawn += 1; } });
    }).observe(body, {childList: true, subtree: true});
  });
})();
"""
RESET = "window.__bench.long = []; window.__bench.frames = []; window.__bench.lag = [];" \
        " window.__bench.redrawn = 0;"


class Writer:
    """Applies 100 StatusNotifications a second to the given stations, round robin; each
    round turns their connector 2 from charging to available or back (a visible change)."""

    def __init__(self, container: Any) -> None:
        self.container = container
        self.targets: list[str] = []
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        step, position = 0.1, 0
        per_step = int(EVENTS_PER_SECOND * step)
        next_at = time.monotonic()
        while not self._stop.is_set():
            targets = self.targets
            if targets:
                batch = []
                at = datetime.now(UTC).isoformat().replace("+00:00", "Z")  # to the µs
                for _ in range(per_step):
                    station_id = targets[position % len(targets)]
                    charging = (position // len(targets)) % 2 == 0  # each round flips it
                    position += 1
                    batch.append(event(station_id, "status-notification",
                                       "StatusNotification", {
                                           "connectorId": 2, "errorCode": "NoError",
                                           "status": "Charging" if charging else "Available",
                                           "timestamp": at}, {}, at))
                ingest_events(self.container.uow_factory, batch)
                self.sent += len(batch)
            next_at += step
            time.sleep(max(0.0, next_at - time.monotonic()))


def serve(app: Any) -> tuple[uvicorn.Server, str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def summary(name: str, probes: dict[str, Any], seconds: float, sent: int) -> str:
    frames, lag, long = probes["frames"], probes["lag"], probes["long"]
    return (f"{name}: events {sent / seconds:.0f}/s, badges redrawn "
            f"{probes['redrawn'] / seconds:.1f}/s; long tasks {len(long)} "
            f"(total {sum(long):.0f} ms, max {max(long, default=0):.0f} ms); frames "
            f"{len(frames) / seconds:.0f}/s, interval p50 {percentile(frames, 50):.1f} "
            f"p99 {percentile(frames, 99):.1f} max {max(frames, default=0):.1f} ms, "
            f"> 50 ms: {sum(f > 50 for f in frames)}; timer lag p50 "
            f"{percentile(lag, 50):.1f} p99 {percentile(lag, 99):.1f} "
            f"max {max(lag, default=0):.1f} ms")


def measure(stations: int, seconds: float, before: str | None) -> list[str]:
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="bench-dashboard-live-"))
    url = f"sqlite:///{folder / 'save-server.sqlite3'}"
    migrate(url)
    container = bootstrap(Settings(database_url=url, data_dir=folder))
    seed(container, stations)
    email = f"bench-{uuid.uuid4().hex[:6]}@save.example"
    container.access_control().accounts.create_account(email, "Bench", Role.ADMIN, PASSWORD,
                                                       by="bench")
    server, base = serve(container.app())
    writer = Writer(container)
    writer.start()
    lines = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900}
                                   ).new_page()
        page.add_init_script(PROBES)
        script: dict[str, str | None] = {"body": None}

        def serve_script(route: Any) -> None:
            if script["body"] is None:
                route.continue_()
            else:
                route.fulfill(body=script["body"], content_type="text/javascript")
        page.route("**/ui/static/dashboard.js", serve_script)
        page.goto(f"{base}/ui/sign-in?next=/ui/overview")
        page.get_by_label("E-mail").fill(email)
        page.locator("#password").fill(PASSWORD)
        page.locator("form[action='/ui/sign-in'] button[type=submit]").click()
        page.wait_for_url("**/ui/overview")
        page.wait_for_selector("#live-status:has-text('on')")
        shown = page.locator("#stations tbody tr[data-station-id]").evaluate_all(
            "rows => rows.map(r => r.getAttribute('data-station-id'))")
        everyone = [f"BENCH-{i:06d}" for i in range(stations)]
        phases: list[tuple[str, list[str], str | None]] = [("idle", [], None)]
        for name, targets in (("spread", everyone), ("hot", shown)):
            if before is not None:
                phases.append((f"{name} (before-script)", targets, before))
            phases.append((name, targets, None))
        for name, targets, body in phases:
            script["body"] = body
            page.reload()
            page.wait_for_selector("#live-status:has-text('on')")
            writer.targets = targets
            time.sleep(1.0)  # the feed's first ticks of the phase
            page.evaluate(RESET)
            sent = writer.sent
            page.wait_for_timeout(seconds * 1000)
            probes = page.evaluate("window.__bench")
            lines.append(summary(name, probes, seconds, writer.sent - sent))
        browser.close()
    writer.stop()
    server.should_exit = True
    container.close()
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--before-script", type=Path, default=None)
    args = parser.parse_args(argv)
    before = args.before_script.read_text() if args.before_script else None
    print("\n".join(machine_lines(sys.argv)))
    for line in measure(args.stations, args.seconds, before):
        print(line)
    print(load_line("after"))


if __name__ == "__main__":
    main()
