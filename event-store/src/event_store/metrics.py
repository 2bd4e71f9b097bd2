"""Prometheus metrics of the event-store (default registry, served on /metrics)."""

from prometheus_client import Counter, Gauge, Histogram

EVENTS_STORED = Counter("event_store_events_stored_total", "Events written for the first time")
EVENTS_DUPLICATE = Counter("event_store_events_duplicate_total",
                           "Events received again (redelivery/replay) and skipped")
EVENTS_DEAD_LETTERED = Counter("event_store_events_dead_lettered_total",
                               "Poison messages sent to the dead-letter queue")
EVENT_LAG_SECONDS = Histogram(
    "event_store_event_lag_seconds",
    "Queue lag: from the gateway receiving a message (received_at) to its write here",
    buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300))
BATCH_SECONDS = Histogram("event_store_batch_write_seconds", "Time to write one batch")
EVENTS_REPLAYED = Counter("event_store_events_replayed_total", "Events sent by replays")
REPLAYS_RUNNING = Gauge("event_store_replays_running", "Replay jobs currently running")
HTTP_SECONDS = Histogram("event_store_http_request_seconds", "HTTP request latency",
                         ["method", "route", "status"],
                         buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5))
