"""Adapters of the load-management context: tables, store, HTTP router, consumer, metrics."""
