"""The embedded storage keeps one SQLite connection per thread, and none for ended threads."""
import pathlib
import threading

from event_store.infrastructure.sqlite_storage import SqliteEventStorage


def _ping_in_a_thread(storage: SqliteEventStorage) -> None:
    thread = threading.Thread(target=storage.ping)
    thread.start()
    thread.join()


def test_connections_of_ended_threads_are_closed(tmp_path: pathlib.Path) -> None:
    storage = SqliteEventStorage(tmp_path / "events.sqlite3")
    try:
        for _ in range(20):
            _ping_in_a_thread(storage)
        storage.ping()
        # This thread's connection, and at most the one of the last ended thread (closed
        # when the next thread connects).
        assert storage.open_connections() <= 2
    finally:
        storage.close()


def test_live_threads_keep_their_connections(tmp_path: pathlib.Path) -> None:
    storage = SqliteEventStorage(tmp_path / "events.sqlite3")
    release = threading.Event()
    connected = threading.Barrier(4)

    def hold() -> None:
        storage.ping()
        connected.wait()
        release.wait()
        storage.ping()  # its connection must still be usable

    threads = [threading.Thread(target=hold) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        connected.wait()
        _ping_in_a_thread(storage)
        assert storage.open_connections() >= 4  # the creating thread's and the three holders'
    finally:
        release.set()
        for thread in threads:
            thread.join()
        storage.close()
    assert storage.open_connections() == 0
