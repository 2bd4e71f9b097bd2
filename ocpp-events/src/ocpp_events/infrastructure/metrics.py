"""Prometheus metrics of one gateway (own registry, so several gateways fit in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.connected_stations = Gauge(
            "ocpp_gateway_connected_stations", "Stations with a live websocket connection.",
            registry=self.registry)
        self.calls = Counter(
            "ocpp_gateway_calls", "Calls received from stations, by action and result "
            "(accepted, rejected, publish_failed, error).",
            ["action", "result"], registry=self.registry)
        self.bad_frames = Counter(
            "ocpp_gateway_bad_frames", "Frames that were not a valid OCPP-J message.",
            registry=self.registry)
        self.rate_limited_calls = Counter(
            "ocpp_gateway_rate_limited_calls", "Calls refused by a station's rate limit "
            "(answered GenericError, nothing published).", registry=self.registry)
        self.flood_closes = Counter(
            "ocpp_gateway_flood_closes", "Connections closed (1008) for flooding.",
            registry=self.registry)
        self.publish_latency = Histogram(
            "ocpp_gateway_publish_seconds", "Time from publish to broker confirmation.",
            ["confirmed"], registry=self.registry,
            buckets=(.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
        self.loop_lag = Histogram(
            "ocpp_gateway_event_loop_lag_seconds", "How much later than asked a periodic timer "
            "fired (every call waits at least this long).", registry=self.registry,
            buckets=(.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5))
        self.handshakes_refused = Counter(
            "ocpp_gateway_handshakes_refused", "Websocket upgrades refused, by reason "
            "(docs/operations.md, station admission).", ["reason"], registry=self.registry)
        self.registry_disconnects = Counter(
            "ocpp_gateway_registry_disconnects", "Connections closed because the registry no "
            "longer admits them (deregistered, disabled, password rotated out).",
            registry=self.registry)
        self.registry_stations = Gauge(
            "ocpp_gateway_registry_stations", "Stations in this gateway's copy of the "
            "registry.", registry=self.registry)
        self.id_tags = Gauge(
            "ocpp_gateway_id_tags", "Id tags in this gateway's copy of the id tag registry.",
            registry=self.registry)
        self.tls_days_to_expiry = Gauge(
            "ocpp_gateway_tls_certificate_days_to_expiry", "Days until the server "
            "certificate expires (absent without TLS).", registry=self.registry)

        # Labelled children looked up once (`.labels()` costs a lock and a dict per call).
        self._call_counters: dict[tuple[str, str], Counter] = {}
        self._publish_observers = {
            confirmed: self.publish_latency.labels(confirmed=str(confirmed).lower())
            for confirmed in (True, False)}

    def count_call(self, action: str, result: str) -> None:
        counter = self._call_counters.get((action, result))
        if counter is None:
            counter = self._call_counters[(action, result)] = self.calls.labels(action, result)
        counter.inc()

    def count_refusal(self, reason: str) -> None:
        self.handshakes_refused.labels(reason).inc()

    def observe_publish(self, seconds: float, confirmed: bool) -> None:
        self._publish_observers[confirmed].observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
