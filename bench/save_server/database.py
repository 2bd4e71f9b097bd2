"""The bench's own PostgreSQL database: create, migrate (`python -m save_server migrate`),
seed straight into the tables with server-side multi-row INSERT … SELECT, drop."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg2
from psycopg2.extensions import connection as PgConnection

# The seeded history: one year of charges ending here.
HISTORY_END = datetime(2026, 11, 1, tzinfo=UTC)
HISTORY_DAYS = 365
HISTORY_START = HISTORY_END - timedelta(days=HISTORY_DAYS)


@dataclass(frozen=True)
class BenchDatabase:
    host: str
    port: int
    user: str
    name: str

    @property
    def sqlalchemy_url(self) -> str:
        return f"postgresql+psycopg2://{self.user}@{self.host}:{self.port}/{self.name}"

    def connect(self, dbname: str | None = None) -> PgConnection:
        return psycopg2.connect(host=self.host, port=self.port, user=self.user,
                                dbname=dbname or self.name)

    def create(self) -> None:
        admin = self.connect("postgres")
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{self.name}"')
        admin.close()

    def drop(self) -> None:
        admin = self.connect("postgres")
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        admin.close()

    def exists(self) -> bool:
        admin = self.connect("postgres")
        with admin.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.name,))
            found = cursor.fetchone() is not None
        admin.close()
        return found

    def migrate(self, revision: str | None = None) -> None:
        """`python -m save_server migrate` (to head), or to an older `revision`."""
        env = {**os.environ, "DATABASE_URL": self.sqlalchemy_url, "LOG_LEVEL": "WARNING"}
        command = [sys.executable, "-m", "save_server", "migrate"]
        if revision is not None:
            command = [sys.executable, "-c", "import sys; from save_server.infrastructure.db."
                       "engine import migrate; migrate(sys.argv[1], sys.argv[2])",
                       self.sqlalchemy_url, revision]
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)


SEED_STATIONS = """
INSERT INTO stations (station_id, status, first_connected_at, last_connected_at, last_seen_at,
    vendor, model, serial_number, firmware_version, boot_info_at, name, address, latitude,
    longitude)
SELECT format('CP-%%s', lpad(s::text, 5, '0')),
       CASE WHEN s %% 10 = 0 THEN 'disconnected' ELSE 'connected' END,
       %(start)s, %(end)s - (s %% 97) * interval '1 hour', %(end)s - (s %% 89) * interval '1 min',
       'ACME', 'Wallbox 22', format('SN-%%s', s), '1.2.3', %(start)s,
       format('Station %%s', s), format('Rua %%s, Lisboa', s),
       38.7 + (s %% 100) / 1000.0, -9.1 - (s %% 100) / 1000.0
FROM generate_series(0, %(stations)s - 1) AS s
"""

SEED_CONNECTORS = """
INSERT INTO connectors (station_id, connector_id, status, raw_status, error_code, status_at,
    last_used_at, last_available_at)
SELECT format('CP-%%s', lpad(s::text, 5, '0')), c,
       CASE WHEN (s + c) %% 3 = 0 THEN 'in_use' ELSE 'available' END,
       CASE WHEN (s + c) %% 3 = 0 THEN 'Charging' ELSE 'Available' END, 'NoError',
       %(end)s - (s %% 50) * interval '1 min', %(end)s - interval '1 day', %(end)s
FROM generate_series(0, %(stations)s - 1) AS s, generate_series(1, 2) AS c
"""

SEED_READINGS = """
INSERT INTO station_readings (station_id, measurand, phase, value, unit, measured_at)
SELECT format('CP-%%s', lpad(s::text, 5, '0')), m.measurand, '', m.value + (s %% 7), m.unit,
       %(end)s - (s %% 50) * interval '1 min'
FROM generate_series(0, %(stations)s - 1) AS s,
     (VALUES ('voltage', 230.0, 'V'), ('power', 7400.0, 'W'),
             ('energy_register', 120000.0, 'Wh')) AS m(measurand, value, unit)
"""

# Charge n belongs to station n % stations; start uniformly random over the year (seeded),
# 10 min .. 4 h long; 4 % end in an error reason.
SEED_CHARGES = """
INSERT INTO charges (station_id, transaction_id, connector_id, id_tag, meter_start_wh,
    meter_stop_wh, started_at, ended_at, stopped, stop_reason, status, energy_wh,
    duration_seconds, sort_at)
SELECT station_id, n::text, 1 + n %% 2, format('TAG-%%s', n %% 50000), meter_start,
       meter_start + energy, started_at, started_at + duration * interval '1 second', true,
       CASE WHEN n %% 25 = 0 THEN 'EmergencyStop' WHEN n %% 2 = 0 THEN 'Local' ELSE 'Remote' END,
       CASE WHEN n %% 25 = 0 THEN 'error' ELSE 'finished' END, energy, duration, started_at
FROM (
    SELECT n, format('CP-%%s', lpad((n %% %(stations)s)::text, 5, '0')) AS station_id,
           %(start)s + random() * (%(days)s * interval '1 day') AS started_at,
           600 + floor(random() * 13800) AS duration,
           floor(random() * 40000) AS energy, (n * 7) %% 1000000 AS meter_start
    FROM generate_series(%(first)s, %(last)s) AS n
) AS generated
"""

def seed(db: BenchDatabase, stations: int, charges: int, log: object = print) -> dict[str, float]:
    """Fill the tables; returns seconds per step."""
    params = {"start": HISTORY_START, "end": HISTORY_END, "stations": stations,
              "days": HISTORY_DAYS}
    timings: dict[str, float] = {}
    conn = db.connect()
    with conn, conn.cursor() as cursor:
        cursor.execute("SELECT setseed(0.42)")
        for name, sql in (("stations", SEED_STATIONS), ("connectors", SEED_CONNECTORS),
                          ("readings", SEED_READINGS)):
            started = time.perf_counter()
            cursor.execute(sql, params)
            timings[name] = time.perf_counter() - started
    started = time.perf_counter()
    chunk = 250_000
    for first in range(0, charges, chunk):
        with conn, conn.cursor() as cursor:
            cursor.execute(SEED_CHARGES, {**params, "first": first,
                                          "last": min(charges, first + chunk) - 1})
        log(f"  seeded {min(charges, first + chunk):,} / {charges:,} charges")  # type: ignore[operator]
    timings["charges"] = time.perf_counter() - started
    conn.autocommit = True
    with conn.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute("VACUUM ANALYZE")
        timings["vacuum_analyze"] = time.perf_counter() - started
    conn.close()
    return timings
