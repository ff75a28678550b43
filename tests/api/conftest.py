"""The JSON API reached in process, without a socket (``tests.conftest.in_process``); a module whose
client needs a socket (the Python SDK's, a subprocess) imports ``lockgate_on_a_socket``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from lockgate.settings import Settings
from tests.conftest import RunningGateway, in_process


@pytest.fixture
def lockgate(settings: Settings, engine: Engine) -> Iterator[RunningGateway]:
    with in_process(settings, engine) as running:
        yield running
