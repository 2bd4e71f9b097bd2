"""Ports for the servers the tests start.

A port the kernel picks for `bind(port 0)` comes from its ephemeral range (32768 and up on
Linux), the same range it takes outgoing connections' local ports from. Between the test
picking one and the server binding it, one of the machine's many connections (the other test
worker's platform to RabbitMQ and PostgreSQL) can take it: a gateway then failed to start.
So the ports handed out here lie below that range, are free when handed out, and none is
handed out twice by one test process.
"""

from __future__ import annotations

import random
import socket

LOWEST, EPHEMERAL_START = 20000, 32768
_handed_out: set[int] = set()
_pick = random.Random()


def bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    for _ in range(500):
        port = _pick.randrange(LOWEST, EPHEMERAL_START)
        if port not in _handed_out and bindable(port):
            _handed_out.add(port)
            return port
    raise RuntimeError(f"no free port in {LOWEST}-{EPHEMERAL_START - 1}")


def free_port_block(count: int, step: int = 100) -> int:
    """A base port with base + step * i free for each of `count` roles (honcho's `-p`)."""
    for _ in range(500):
        base = _pick.randrange(LOWEST, EPHEMERAL_START - step * count)
        block = [base + step * i for i in range(count)]
        if not _handed_out.intersection(block) and all(map(bindable, block)):
            _handed_out.update(block)
            return base
    raise RuntimeError("no free block of ports")
