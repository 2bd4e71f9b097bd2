"""Prometheus metrics of the service (served by the API at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

EVENTS_PROCESSED = Counter("save_server_events_processed_total",
                           "Events applied to the database", ["type"])
EVENTS_DUPLICATE = Counter("save_server_events_duplicate_total",
                           "Redelivered or replayed events that changed nothing", ["type"])
EVENTS_IGNORED = Counter("save_server_events_ignored_total",
                         "Events of a type this service does not apply (e.g. brought by a replay "
                         "to its queue), acknowledged without a transaction, by the type's family "
                         "(the part before its first dot: ocpp-events, accounts, …)", ["family"])
EVENTS_FAILED = Counter("save_server_events_failed_total",
                        "Events requeued after a transient failure", ["reason"])
EVENTS_DEAD_LETTERED = Counter("save_server_events_dead_lettered_total",
                               "Poison messages moved to the dead-letter queue")
CONSUME_SECONDS = Histogram("save_server_event_consume_seconds",
                            "Time from taking an event off the queue to its acknowledgement",
                            buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5))
EVENT_LAG_SECONDS = Histogram(
    "save_server_event_lag_seconds",
    "Queue lag: from the gateway receiving a message (received_at) to its commit here",
    buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300))
HTTP_SECONDS = Histogram("save_server_http_request_seconds", "HTTP request latency",
                         ["method", "route", "status"],
                         buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5))
