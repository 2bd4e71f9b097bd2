"""Local authorization lists kept in sync on the stations (domain/local_lists.py)."""
