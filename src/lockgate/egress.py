"""The egress guard: outbound HTTP to URLs Lockgate did not choose (webhook endpoints, OAuth discovery,
registration and token endpoints) reaches public addresses only (server-side request forgery, OWASP
SSRF Prevention Cheat Sheet).

Each connection resolves its host, refuses it when any address it resolves to is loopback, private
(RFC 1918, RFC 4193), link-local (RFC 3927, RFC 4291 §2.5.6; 169.254.169.254 is where clouds serve
instance metadata and credentials), multicast, unspecified, reserved or otherwise not globally
routable (the IANA special-purpose registries, as ``ipaddress`` knows them) unless it lies in one of
the allowed networks, and then connects to the address it checked, not to a second resolution of
the name (so a name cannot be re-bound between check and connect). IPv4 addresses embedded in IPv6
(``::ffff:a.b.c.d``, RFC 4291 §2.5.5.2; ``64:ff9b::/96``, RFC 6052) are judged as the IPv4 address.
TLS still verifies the certificate for the name in the URL.

Redirects are not followed unless a caller asks; each hop of a followed redirect is a new
connection and is checked the same way. Only ``http`` and ``https`` URLs are fetched, directly:
proxies from the environment are ignored, since through a proxy the guard would check the proxy,
not the destination.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from urllib.parse import urlsplit

import anyio
import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolve = Callable[[str, int], Awaitable[Sequence[str]]]

NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix
LOOPBACK_NETWORKS = ("127.0.0.0/8", "::1/128")
"""The loopback networks (RFC 1122 §3.2.1.3, RFC 4291 §2.5.3): where servers may be by default."""
LOCALHOST = (ipaddress.IPv4Address("127.0.0.1"), ipaddress.IPv6Address("::1"))
SCHEMES = ("http", "https")
LIMITS = httpx.Limits(max_connections=20, max_keepalive_connections=5)


class EgressRefusedError(httpx.TransportError):
    """An outbound request the egress guard refused: a scheme other than http(s), or a host that
    resolves to an address outside the public internet and the allowed networks. An
    ``httpx.TransportError``, so callers that handle unreachable hosts handle it too."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


def parse_networks(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    """The networks of CIDR strings (``10.0.0.0/8``, ``fd00::/8``; a bare address is a /32 or /128).
    Host bits are allowed (``10.1.2.3/8`` is ``10.0.0.0/8``).

    Raises:
        ValueError: naming a string that is no network.
    """
    networks = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"{cidr!r} is not a network (CIDR such as 10.0.0.0/8)") from exc
    return tuple(networks)


def resolve_refusal(address: IPAddress, allowed: Sequence[IPNetwork] = ()) -> str | None:
    """Why the guard refuses ``address`` (e.g. ``"loopback"``), or None when it may be reached:
    a public address, or one inside ``allowed``."""
    embedded = _embedded_ipv4(address)
    if any(_within(a, allowed) for a in (address, embedded) if a is not None):
        return None
    return _category(embedded if embedded is not None else address)


def resolve_url_refusal(url: str, allowed: Sequence[IPNetwork] = ()) -> str | None:
    """Why the guard refuses ``url`` before any lookup (e.g. ``"link-local"``), or None: a literal
    address judged by ``resolve_refusal``, or a ``localhost`` name (RFC 6761 §6.3), judged as the
    loopback addresses it stands for. Other names are judged when a connection resolves them: a
    lookup now would prove nothing about the address a later connection gets.
    """
    host = (urlsplit(url).hostname or "").rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return next(filter(None, (resolve_refusal(a, allowed) for a in LOCALHOST)), None)
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    return resolve_refusal(address, allowed)


def _within(address: IPAddress, networks: Sequence[IPNetwork]) -> bool:
    return any(address.version == n.version and address in n for n in networks)


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _category(address: IPAddress) -> str | None:
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address.is_reserved:
        return "reserved"
    if address.is_private:
        return "private"
    if not address.is_global:
        return "non-public"  # e.g. 100.64.0.0/10, shared address space (RFC 6598)
    return None


async def resolve_host(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to for a TCP connection, in the resolver's order, once each;
    a literal address is its own answer, without a lookup (nor the thread one takes).

    Raises:
        OSError: the name does not resolve (``socket.gaierror``).
    """
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class EgressNetworkBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, checking each connection's addresses and connecting to the
    checked address itself (the TLS layer above still uses the URL's host name for SNI and
    certificate verification)."""

    def __init__(self, allowed: Sequence[IPNetwork], resolve: Resolve = resolve_host) -> None:
        self._allowed = tuple(allowed)
        self._resolve = resolve
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """A stream to a checked address of ``host``.

        Raises:
            EgressRefusedError: an address of ``host`` is refused (see ``resolve_refusal``).
            httpcore.ConnectError: ``host`` does not resolve, or no address accepts the connection.
            httpcore.ConnectTimeout: ``timeout`` (seconds) passed while resolving or connecting.
        """
        started = time.monotonic()
        addresses = await self._checked_addresses(host, port, timeout)
        failure: Exception | None = None
        for address in addresses:
            remaining = None if timeout is None else max(0.0, timeout - (time.monotonic() - started))
            try:
                return await self._inner.connect_tcp(address, port, remaining, local_address, socket_options)
            except httpcore.ConnectError as exc:  # try the next address, as a resolver's order intends
                failure = exc
        raise failure or httpcore.ConnectError(f"{host} resolves to no address")

    async def _checked_addresses(self, host: str, port: int, seconds: float | None) -> list[str]:
        try:
            with anyio.fail_after(seconds):
                found = await self._resolve(host, port)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from exc
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        for text in found:
            address = ipaddress.ip_address(text.split("%", 1)[0])  # without an IPv6 zone index
            reason = resolve_refusal(address, self._allowed)
            if reason is not None:
                shown = host if host == text else f"{host} ({text})"
                raise EgressRefusedError(
                    f"refused to connect to {shown}: a {reason} address, outside egress_allowed_networks"
                )
        return list(found)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise EgressRefusedError("refused to connect to a unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@functools.cache
def tls_context(verify: bool | str) -> ssl.SSLContext:
    """One TLS client context per verification setting (``True``: the system's CA certificates; a
    path: that CA bundle), shared by every transport: loading the certificates costs tens of
    milliseconds each time, and a context is safe to share once built."""
    return httpx.create_ssl_context(verify=verify, trust_env=False)


class EgressTransport(httpx.AsyncHTTPTransport):
    """``httpx.AsyncHTTPTransport`` with the egress guard: http(s) URLs only, connections through
    ``EgressNetworkBackend``, no proxy."""

    def __init__(
        self,
        allowed: Sequence[IPNetwork],
        *,
        resolve: Resolve = resolve_host,
        verify: bool | str = True,
        limits: httpx.Limits = LIMITS,
    ) -> None:
        context = tls_context(verify)
        super().__init__(verify=context, trust_env=False, limits=limits)
        # The pool httpx would build, but with the guarded network backend: httpx's transport has no
        # parameter for it, and this keeps httpx's request and exception mapping.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=EgressNetworkBackend(allowed, resolve),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through the guard.

        Raises:
            EgressRefusedError: not an http(s) URL, or its host is refused.
        """
        if request.url.scheme not in SCHEMES:
            raise EgressRefusedError(f"refused a {request.url.scheme!r} URL: only http and https are fetched")
        return await super().handle_async_request(request)


def guarded_client(
    allowed_networks: Sequence[str],
    timeout: float,
    *,
    resolve: Resolve = resolve_host,
    limits: httpx.Limits = LIMITS,
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` whose every connection passes the egress guard. ``allowed_networks``
    are CIDRs that may be reached although not public (the ``egress_allowed_networks`` setting);
    ``timeout`` is httpx's per-operation timeout in seconds; ``limits`` bound its connection pool;
    redirects are not followed unless a request asks (each hop is then checked).

    Raises:
        ValueError: a malformed CIDR in ``allowed_networks``.
    """
    transport = EgressTransport(parse_networks(allowed_networks), resolve=resolve, limits=limits)
    return httpx.AsyncClient(transport=transport, timeout=timeout, follow_redirects=False, trust_env=False)
