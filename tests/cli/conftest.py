"""The CLI's ``--url`` commands reach a Lockgate in process, without a socket: ``lockgate`` runs it
(``tests.conftest.in_process``) and hands its transport to the CLI's HTTP client, which still builds
every request as it does over the network. A module that needs a socket (a subprocess) imports
``lockgate_on_a_socket``."""

from __future__ import annotations

import functools
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from lockgate.cli import context
from lockgate.cli.client import HttpClient
from lockgate.settings import Settings
from tests.conftest import RunningGateway, in_process


@pytest.fixture
def lockgate(settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningGateway]:
    with in_process(settings, engine) as running:
        monkeypatch.setattr(context, "HttpClient", functools.partial(HttpClient, transport=running.transport))
        yield running
