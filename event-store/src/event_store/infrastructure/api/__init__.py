"""The HTTP API (FastAPI): events, replays, health and metrics."""
