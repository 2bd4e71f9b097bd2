"""`make test`'s RabbitMQ plugin step: enabled where it can be, else a stop with the command."""

from __future__ import annotations

import os

import pytest

from tests.rabbitmq_plugin import DEFAULT_URL, ENABLE, Probe, ensure, probe


def run(answers: list[Probe], enables: bool) -> tuple[int, list[str], int]:
    said: list[str] = []
    enabled = []

    def enable() -> bool:
        enabled.append(True)
        return enables

    code = ensure(lambda: answers.pop(0), enable, said.append)
    return code, said, len(enabled)


def test_an_enabled_plugin_passes_silently_without_running_rabbitmq_plugins() -> None:
    assert run([Probe.ENABLED], enables=True) == (0, [], 0)


def test_a_missing_plugin_is_enabled_with_the_local_tool_and_checked_again() -> None:
    code, said, enable_calls = run([Probe.MISSING, Probe.ENABLED], enables=True)
    assert (code, enable_calls) == (0, 1)
    assert said == ["enabled RabbitMQ's rabbitmq_consistent_hash_exchange plugin"]


@pytest.mark.parametrize(("enables", "after"), [(False, Probe.MISSING), (True, Probe.MISSING)])
def test_a_plugin_that_cannot_be_enabled_stops_with_the_exact_command(
        enables: bool, after: Probe) -> None:
    code, said, _ = run([Probe.MISSING, after], enables=enables)
    assert code == 2
    assert "    rabbitmq-plugins enable rabbitmq_consistent_hash_exchange\n" in said[0]


def test_no_broker_is_left_to_the_tests_that_need_one() -> None:
    code, said, enable_calls = run([Probe.UNREACHABLE], enables=True)
    assert (code, enable_calls) == (0, 0)
    assert "not reachable" in said[0]


def test_the_machine_broker_answers_the_probe() -> None:
    """The real probe against the test broker: enabled after `make test`'s step ran."""
    found = probe(os.environ.get("TEST_AMQP_URL", DEFAULT_URL))
    if found is Probe.UNREACHABLE:
        if os.environ.get("CI") == "true":
            pytest.fail("RabbitMQ is not reachable (CI=true: a missing server is a failure)")
        pytest.skip("RabbitMQ is not reachable")
    assert found is Probe.ENABLED, f"run: {' '.join(ENABLE)}"


def test_an_unreachable_broker_is_reported_as_such() -> None:
    assert probe("amqp://guest:guest@127.0.0.1:1/%2F") is Probe.UNREACHABLE
