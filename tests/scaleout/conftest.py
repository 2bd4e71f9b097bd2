from __future__ import annotations

import pytest

from tests.e2e.conftest import _require_real_servers


@pytest.fixture(scope="module", autouse=True)
def _real_servers() -> None:
    _require_real_servers()
