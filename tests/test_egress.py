"""The egress guard: outbound requests to URLs Lockgate did not choose reach public addresses, and
private ones only when their network is allowed; the connection goes to the address checked."""

from __future__ import annotations

import ipaddress
import re
import ssl
from collections.abc import Iterator, Sequence

import httpx
import pytest

from lockgate.egress import (
    EgressRefusedError,
    Resolve,
    guarded_client,
    parse_networks,
    resolve_refusal,
    tls_context,
)
from tests.fixtures.webhook_endpoint import WebhookEndpoint, endpoint

pytestmark = pytest.mark.anyio
LOOPBACK = ["127.0.0.0/8"]


@pytest.fixture
def agent() -> Iterator[WebhookEndpoint]:
    running = endpoint()
    yield running
    running.stop()


def resolver(table: dict[str, Sequence[str]]) -> Resolve:
    """A fake DNS: ``table`` maps names to addresses; any other name does not resolve."""

    async def resolve(host: str, _port: int) -> Sequence[str]:
        if host not in table:
            raise OSError(f"{host} does not resolve")
        return table[host]

    return resolve


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "non-public"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
    ],
)
def test_addresses_outside_the_public_internet_are_refused_with_their_category(
    address: str, reason: str
) -> None:
    assert resolve_refusal(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert resolve_refusal(ipaddress.ip_address(address)) is None


def test_an_allowed_network_lets_its_addresses_through_and_only_those() -> None:
    allowed = parse_networks(["10.0.0.0/8", "fd00::/8"])
    assert resolve_refusal(ipaddress.ip_address("10.9.8.7"), allowed) is None
    assert resolve_refusal(ipaddress.ip_address("::ffff:10.9.8.7"), allowed) is None
    assert resolve_refusal(ipaddress.ip_address("fd00::5"), allowed) is None
    assert resolve_refusal(ipaddress.ip_address("192.168.0.1"), allowed) == "private"
    assert resolve_refusal(ipaddress.ip_address("169.254.169.254"), allowed) == "link-local"


def test_a_malformed_network_is_a_value_error_naming_it() -> None:
    with pytest.raises(ValueError, match=re.escape("'10.0.0.0/33'")):
        parse_networks(["10.0.0.0/33"])
    with pytest.raises(ValueError, match="'intranet'"):
        guarded_client(["intranet"], 5)


async def test_a_loopback_url_is_refused_unless_its_network_is_allowed(agent: WebhookEndpoint) -> None:
    async with guarded_client([], 5) as client:
        with pytest.raises(EgressRefusedError, match="loopback"):
            await client.post(agent.url, content=b"{}")
    assert agent.received == []
    async with guarded_client(LOOPBACK, 5) as client:
        assert (await client.post(agent.url, content=b"{}")).status_code == 200
    assert len(agent.received) == 1


async def test_a_name_resolving_to_the_metadata_address_is_refused_before_connecting() -> None:
    resolve = resolver({"metadata.attacker.test": ["169.254.169.254"]})
    async with guarded_client(LOOPBACK, 5, resolve=resolve) as client:
        with pytest.raises(
            EgressRefusedError, match=r"metadata\.attacker\.test \(169\.254\.169\.254\): a link-local"
        ):
            await client.get("http://metadata.attacker.test/latest/meta-data/")


async def test_one_refused_address_among_several_refuses_the_name() -> None:
    resolve = resolver({"mixed.test": ["93.184.215.14", "10.0.0.1"]})
    async with guarded_client([], 5, resolve=resolve) as client:
        with pytest.raises(EgressRefusedError, match="private"):
            await client.get("https://mixed.test/")


async def test_the_connection_goes_to_the_address_checked_not_a_second_lookup(agent: WebhookEndpoint) -> None:
    # agent.test does not resolve in real DNS: only the checked address can have been used
    resolve = resolver({"agent.test": ["127.0.0.1"]})
    async with guarded_client(LOOPBACK, 5, resolve=resolve) as client:
        answer = await client.post(f"http://agent.test:{agent.port}/hook", content=b"{}")
    assert answer.status_code == 200
    assert agent.received[0].headers["host"] == f"agent.test:{agent.port}"


async def test_a_redirect_to_a_refused_address_is_refused_when_redirects_are_followed() -> None:
    redirecting = endpoint([(307, {"location": "http://169.254.169.254/latest/meta-data/"})])
    try:
        async with guarded_client(LOOPBACK, 5) as client:
            not_followed = await client.post(redirecting.url, content=b"{}")
            assert not_followed.status_code == 307  # redirects are not followed by default
            redirecting.answers.append((307, {"location": "http://169.254.169.254/latest/meta-data/"}))
            with pytest.raises(EgressRefusedError, match="link-local"):
                await client.post(redirecting.url, content=b"{}", follow_redirects=True)
    finally:
        redirecting.stop()


async def test_only_http_and_https_urls_are_fetched() -> None:
    async with guarded_client(LOOPBACK, 5) as client:
        request = client.build_request("GET", "ftp://127.0.0.1/file")
        with pytest.raises(EgressRefusedError, match="'ftp'"):
            await client.send(request)


async def test_a_name_that_does_not_resolve_is_a_connect_error() -> None:
    async with guarded_client([], 5, resolve=resolver({})) as client:
        with pytest.raises(httpx.ConnectError, match=r"cannot resolve nowhere\.test"):
            await client.get("https://nowhere.test/")


async def test_a_refusal_is_an_httpx_transport_error_for_callers_that_handle_unreachable_hosts() -> None:
    async with guarded_client([], 5) as client:
        with pytest.raises(httpx.TransportError):
            await client.get("http://127.0.0.1:9/")


def test_every_guarded_client_verifies_with_the_one_shared_tls_context() -> None:
    first, second = guarded_client([], timeout=1.0), guarded_client([], timeout=1.0)
    contexts = {id(client._transport._pool._ssl_context) for client in (first, second)}  # type: ignore[attr-defined]
    assert contexts == {id(tls_context(True))}
    assert tls_context(True).verify_mode is ssl.CERT_REQUIRED
