"""Property-based requests over the whole OpenAPI document (schemathesis), authenticated as an
admin: no input makes the API answer 5xx or a status its document does not list."""

from __future__ import annotations

from save_server.bootstrap import Container
from tests.support.api_keys import grant
from tests.support.openapi_fuzz import fuzz


def test_no_input_gets_a_server_error_or_an_undocumented_status(container: Container) -> None:
    assert fuzz(container.app(), grant(container)) == []
