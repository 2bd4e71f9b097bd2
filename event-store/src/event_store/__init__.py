"""Keeps every event, serves a query API and replays events."""
