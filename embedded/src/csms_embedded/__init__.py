"""Embedded mode: the whole platform in one process, with an in-process broker and SQLite."""
