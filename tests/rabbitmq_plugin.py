"""`make test`'s first step: RabbitMQ's bundled consistent-hash exchange plugin must be on.

save-server's shard queues (`SAVE_SERVER_SHARDS`) need `rabbitmq_consistent_hash_exchange`,
which RabbitMQ ships but leaves off. Without it several tests would fail deep inside with
"queues never declared"; this check enables it where it can (a local `rabbitmq-plugins`) or
stops at once with the command to run. A broker that is not reachable is left to the tests
(they skip, or fail under CI=true).

    python tests/rabbitmq_plugin.py        # exit 0: enabled (or no broker); 2: run the command
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable
from enum import Enum

PLUGIN = "rabbitmq_consistent_hash_exchange"
ENABLE = ["rabbitmq-plugins", "enable", PLUGIN]
DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


class Probe(Enum):
    ENABLED = "enabled"
    MISSING = "missing"
    UNREACHABLE = "unreachable"


def probe(url: str) -> Probe:
    """Declare (and delete) a throw-away `x-consistent-hash` exchange: the broker refuses the
    type with COMMAND_INVALID when the plugin is off, whatever the user may see of its files."""
    import pika
    import pika.exceptions

    try:
        connection = pika.BlockingConnection(pika.URLParameters(url))
    except pika.exceptions.AMQPError:
        return Probe.UNREACHABLE
    name = f"make-test-plugin-probe-{uuid.uuid4().hex[:10]}"
    try:
        channel = connection.channel()
        channel.exchange_declare(name, "x-consistent-hash", auto_delete=True)
        channel.exchange_delete(name)
        return Probe.ENABLED
    except (pika.exceptions.ChannelClosedByBroker,
            pika.exceptions.ConnectionClosedByBroker) as error:
        if "x-consistent-hash" in str(error):
            return Probe.MISSING
        raise
    finally:
        if connection.is_open:
            connection.close()


def enable_locally() -> bool:
    """Run `rabbitmq-plugins enable …` when the tool is on PATH; True when it succeeded."""
    if shutil.which(ENABLE[0]) is None:
        return False
    done = subprocess.run(ENABLE, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(f"{' '.join(ENABLE)} failed: {done.stderr.strip() or done.stdout.strip()}",
              file=sys.stderr)
    return done.returncode == 0


def ensure(check: Callable[[], Probe], enable: Callable[[], bool],
           say: Callable[[str], None]) -> int:
    """0 when the plugin is on (enabling it if needed) or no broker answers; 2 otherwise."""
    found = check()
    if found is Probe.UNREACHABLE:
        say("RabbitMQ is not reachable: the tests that need it skip (or fail under CI=true)")
        return 0
    if found is Probe.ENABLED:
        return 0
    if enable() and check() is Probe.ENABLED:
        say(f"enabled RabbitMQ's {PLUGIN} plugin")
        return 0
    say(f"RabbitMQ lacks its bundled {PLUGIN} plugin (save-server's shard queues need it).\n"
        f"Enable it on the broker's machine, then run `make test` again:\n"
        f"    {' '.join(ENABLE)}\n"
        f"(in docker-compose: docker compose exec rabbitmq {' '.join(ENABLE)})")
    return 2


def main() -> int:
    url = os.environ.get("TEST_AMQP_URL", DEFAULT_URL)
    return ensure(lambda: probe(url), enable_locally, lambda line: print(line, file=sys.stderr))


if __name__ == "__main__":
    sys.exit(main())
