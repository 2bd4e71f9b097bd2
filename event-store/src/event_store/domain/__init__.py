"""Plain-Python core of the event-store: stored events, queries and the ports."""
