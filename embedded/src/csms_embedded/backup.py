"""`python -m csms_embedded backup DIR` / `restore DIR`: the embedded platform's data, copied
while it runs.

Each SQLite file is copied with SQLite's online backup API (a consistent snapshot of that file
even while the services write to it), in an order that keeps the stores consistent with each
other: save-server first, then the event store (which therefore holds at least every event
save-server had applied), then the broker's journal. Keys and the gateway's registry copy are
plain files. A restore fills an empty DATA_DIR; after it, a replay to `save-server` (idempotent)
brings save-server up to the event store."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

# In this order (see above); each is optional (a service may not have run yet).
DATABASES = ("save-server.sqlite3", "event-store.sqlite3", "broker.sqlite3")
FILES = ("auth-signing-key.pem", "auth-public-key.pem", "admin-api-key",
         "gateway-registry.json")


class BackupError(Exception):
    pass


def backup(data_dir: Path, target: Path) -> list[str]:
    """Copy DATA_DIR's stores and files into `target` (created; must be empty)."""
    if not data_dir.is_dir():
        raise BackupError(f"no data folder {data_dir}")
    _empty_folder(target)
    copied = []
    for name in DATABASES:
        source = data_dir / name
        if source.exists():
            _copy_database(source, target / name)
            copied.append(name)
    for name in FILES:
        if (data_dir / name).exists():
            shutil.copy2(data_dir / name, target / name)  # keeps 0600 on the secrets
            copied.append(name)
    if not copied:
        raise BackupError(f"{data_dir} holds no CSMS data")
    return copied


def restore(source: Path, data_dir: Path) -> list[str]:
    """Fill an empty DATA_DIR from a backup (refuses to overwrite anything)."""
    if not any((source / name).exists() for name in DATABASES):
        raise BackupError(f"{source} is not a backup of this platform")
    _empty_folder(data_dir)
    restored = []
    for name in (*DATABASES, *FILES):
        if (source / name).exists():
            if name.endswith(".sqlite3"):
                _copy_database(source / name, data_dir / name)
            else:
                shutil.copy2(source / name, data_dir / name)
            restored.append(name)
    return restored


def _empty_folder(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        raise BackupError(f"{folder} is not empty: choose an empty folder")


def _copy_database(source: Path, target: Path) -> None:
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30) as reader, \
            sqlite3.connect(target) as writer:
        reader.backup(writer)
        if writer.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise BackupError(f"the copy of {source.name} failed its integrity check")
    # `with` commits but does not close
    reader.close()
    writer.close()
