"""Which constraint the database refused a write for. A store turns only the refusal it expects
(a duplicate key, a referenced row deleted meanwhile) into a domain answer and lets every
other one through: a broken invariant is a bug to see, not a wrong 404."""

from __future__ import annotations

from enum import Enum

from sqlalchemy import exc


class Violation(Enum):
    UNIQUE = "unique"
    FOREIGN_KEY = "foreign-key"
    NOT_NULL = "not-null"
    CHECK = "check"


_POSTGRES = {"23505": Violation.UNIQUE, "23503": Violation.FOREIGN_KEY,
             "23502": Violation.NOT_NULL, "23514": Violation.CHECK}
_SQLITE = {"SQLITE_CONSTRAINT_PRIMARYKEY": Violation.UNIQUE,
           "SQLITE_CONSTRAINT_UNIQUE": Violation.UNIQUE,
           "SQLITE_CONSTRAINT_FOREIGNKEY": Violation.FOREIGN_KEY,
           "SQLITE_CONSTRAINT_NOTNULL": Violation.NOT_NULL,
           "SQLITE_CONSTRAINT_CHECK": Violation.CHECK}


def violates(error: exc.IntegrityError, kind: Violation, table: str) -> bool:
    """True when the database refused a row of `table` for a `kind` violation (psycopg2:
    SQLSTATE and the table of its diagnostics; sqlite3: the extended error name and the
    `table.column` its message names, absent from a foreign key's refusal)."""
    driver_error = error.orig
    pgcode = getattr(driver_error, "pgcode", None)
    if pgcode is not None:
        diag = getattr(driver_error, "diag", None)
        return _POSTGRES.get(pgcode) is kind and getattr(diag, "table_name", None) == table
    if _SQLITE.get(getattr(driver_error, "sqlite_errorname", "")) is not kind:
        return False
    _, _, columns = str(driver_error).partition(": ")
    return not columns or any(c.strip().startswith(f"{table}.") for c in columns.split(","))
