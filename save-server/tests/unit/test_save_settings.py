"""Settings that cannot work together are refused at start-up, with the variables named."""
import pytest
from pydantic import ValidationError

from save_server.config import Settings


def test_shards_need_a_queue_name_other_than_the_events_exchange() -> None:
    with pytest.raises(ValidationError, match="SAVE_SERVER_QUEUE must differ from AMQP_EXCHANGE"):
        Settings(save_server_shards=4, save_server_queue="events", amqp_exchange="events")


@pytest.mark.parametrize("shards, queue", [(0, "events"), (4, "save-server")])
def test_other_combinations_are_accepted(shards: int, queue: str) -> None:
    settings = Settings(save_server_shards=shards, save_server_queue=queue, amqp_exchange="events")
    assert (settings.save_server_shards, settings.save_server_queue) == (shards, queue)
