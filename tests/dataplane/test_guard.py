"""Host and Origin validation against DNS rebinding."""

from __future__ import annotations

import pytest

from lockgate.dataplane.guard import HostOriginGuard
from lockgate.settings import Settings

GUARD = HostOriginGuard(
    ["localhost:*", "127.0.0.1:*", "gateway.example.com"],
    ["http://localhost:*", "https://admin.example.com"],
)


@pytest.mark.parametrize(
    "host",
    ["localhost:8080", "localhost:1", "localhost", "LOCALHOST:8080", "127.0.0.1:9000", "gateway.example.com"],
)
def test_an_allowed_host_passes(host: str) -> None:
    assert GUARD.check(host, None) is None


@pytest.mark.parametrize(
    "host",
    [
        "evil.example.com",
        "evil.example.com:8080",
        "localhost.evil.com:80",
        "localhost.evil.com",
        "localhost:",
        "localhost:80x",
        "localhost:80@evil.com",
        "gateway.example.com:443",
        "127.0.0.1.evil.com:80",
        "",
    ],
)
def test_an_unlisted_host_is_refused_with_421(host: str) -> None:
    verdict = GUARD.check(host, None)

    assert verdict is not None
    assert verdict[0] == 421
    assert repr(host) in verdict[1]


def test_a_request_without_host_is_refused_with_421() -> None:
    verdict = GUARD.check(None, None)

    assert verdict is not None
    assert verdict[0] == 421


def test_a_request_without_origin_passes() -> None:
    assert GUARD.check("localhost:8080", None) is None


@pytest.mark.parametrize("origin", ["http://localhost:3000", "http://localhost", "https://admin.example.com"])
def test_an_allowed_origin_passes(origin: str) -> None:
    assert GUARD.check("localhost:8080", origin) is None


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example.com", "https://localhost:3000", "http://localhost.evil.com:3000", "null", ""],
)
def test_a_foreign_origin_is_refused_with_403(origin: str) -> None:
    verdict = GUARD.check("localhost:8080", origin)

    assert verdict is not None
    assert verdict[0] == 403
    assert repr(origin) in verdict[1]


def test_a_bad_host_is_reported_before_a_bad_origin() -> None:
    verdict = GUARD.check("evil.example.com", "https://evil.example.com")

    assert verdict is not None
    assert verdict[0] == 421


def test_the_public_url_is_an_accepted_host_and_origin_and_its_neighbours_are_not() -> None:
    settings = Settings(public_url="https://gw.example.com", master_key=None)
    guard = HostOriginGuard(*settings.guard_patterns())
    assert guard.check("gw.example.com", "https://gw.example.com") is None
    assert guard.check("evil.example.com", None) is not None
    assert guard.check("gw.example.com", "http://gw.example.com") is not None  # not the public scheme
