"""Charge reports by e-mail: SQL storage, CSV and message building, SMTP, the API router."""
