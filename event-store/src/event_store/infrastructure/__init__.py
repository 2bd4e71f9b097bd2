"""Adapters: storage (SQLite, MongoDB), message feeds and publishers, the HTTP API."""
