"""1.6 transaction ids: positive 32-bit, unique per station across restarts and replicas."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from websockets.asyncio.client import connect

from ocpp_events.domain.ports import Clock
from ocpp_events.domain.transaction_ids import EPOCH, MAX_ID, TransactionIdAllocator

START = {"connectorId": 1, "idTag": "ABC", "meterStart": 0, "timestamp": "2026-11-25T12:00:00Z"}


class SteppingClock(Clock):
    """A clock that moves only when told to, or when the code under test waits."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment

    async def sleep_until(self, moment: datetime) -> None:
        self.moment = max(self.moment, moment)


def test_ids_are_seconds_since_2025_and_strictly_increasing_per_station():
    clock = SteppingClock(EPOCH + timedelta(seconds=1000, milliseconds=300))
    ids = TransactionIdAllocator(clock)
    ids.connected("A")
    assert [ids.next_id("A").value for _ in range(3)] == [1001, 1002, 1003]
    assert ids.next_id("B").value == 1001  # unique per station, not globally
    clock.moment += timedelta(seconds=10)
    assert ids.next_id("A").value == 1010


def test_an_id_is_usable_only_from_the_start_of_its_second():
    clock = SteppingClock(EPOCH + timedelta(seconds=50, milliseconds=900))
    ids = TransactionIdAllocator(clock)
    ids.connected("A")
    reserved = ids.next_id("A")
    assert reserved.value == 51
    assert reserved.usable_from == EPOCH + timedelta(seconds=51) > clock.now()


async def test_a_new_process_or_replica_continues_above_every_answered_id():
    """Even a burst followed at once by a reconnection elsewhere cannot repeat an id."""
    clock = SteppingClock(datetime(2026, 11, 25, 12, 0, 0, 100_000, tzinfo=UTC))
    first_process = TransactionIdAllocator(clock)
    first_process.connected("S")
    old_ids = []
    for _ in range(3):
        reserved = first_process.next_id("S")
        await clock.sleep_until(reserved.usable_from)  # what the handler does before answering
        old_ids.append(reserved.value)
    other_replica = TransactionIdAllocator(clock)  # connects right after the last answer
    other_replica.connected("S")
    assert other_replica.next_id("S").value > max(old_ids)


def test_documented_limit_replica_clocks_more_than_a_second_apart():
    now = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
    ahead, behind = SteppingClock(now + timedelta(seconds=2)), SteppingClock(now)
    first, second = TransactionIdAllocator(ahead), TransactionIdAllocator(behind)
    first.connected("S")
    answered = first.next_id("S").value
    second.connected("S")
    assert second.next_id("S").value <= answered  # could repeat: keep clocks in sync (NTP)


def test_ids_stay_positive_32_bit_until_2093():
    clock = SteppingClock(datetime(2093, 1, 1, tzinfo=UTC))
    ids = TransactionIdAllocator(clock)
    assert 0 < ids.next_id("S").value <= MAX_ID
    clock.moment = datetime(2094, 1, 1, tzinfo=UTC)
    with pytest.raises(OverflowError):
        ids.next_id("S")


async def start_transactions(url: str, station_id: str, count: int) -> list[int]:
    async with connect(url + station_id, subprotocols=["ocpp1.6"]) as ws:
        ids = []
        for n in range(count):
            await ws.send(json.dumps([2, f"s{n}", "StartTransaction", START]))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert reply[0] == 3, reply
            ids.append(reply[2]["transactionId"])
        return ids


@pytest.mark.integration
async def test_unique_across_two_gateway_processes_and_a_restart(
        rabbit_queue, gateway_processes, station_id):
    amqp_url, exchange, _ = rabbit_queue
    replica_a, replica_b = gateway_processes(amqp_url, exchange), gateway_processes(
        amqp_url, exchange)
    await asyncio.gather(replica_a.start(), replica_b.start())
    seen: list[int] = []
    # Fast failovers, no pause: queued transactions replayed right after each reconnection.
    seen += await start_transactions(replica_a.url, station_id, 1)
    seen += await start_transactions(replica_b.url, station_id, 2)   # failover to replica B
    assert await replica_a.terminate() == 0                          # restart of replica A
    await replica_a.start()
    seen += await start_transactions(replica_a.url, station_id, 1)
    seen += await start_transactions(replica_b.url, station_id, 1)
    assert len(set(seen)) == len(seen) == 5, seen
    assert seen == sorted(seen)
    assert all(0 < transaction_id <= MAX_ID for transaction_id in seen)
