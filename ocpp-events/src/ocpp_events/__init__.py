"""OCPP-J websocket gateway: answers chargers and publishes every message as an event."""
