"""Host and Origin validation against DNS rebinding (MCP basic/transports §Security Warning).

Patterns are ``host:port`` for Host and ``scheme://host:port`` for Origin; a port of ``*`` matches
any port. A request with an unlisted Host gets 421 (Misdirected Request); one with a present but
unlisted Origin gets 403. A request without Origin (a non-browser client) passes.
"""

from __future__ import annotations

from collections.abc import Iterable


def _matches(value: str, patterns: Iterable[str]) -> bool:
    value = value.lower()
    for pattern in patterns:
        pattern = pattern.lower()
        if pattern.endswith(":*"):
            head = pattern[:-1]
            if (
                value.startswith(head) and value[len(head) :].isascii() and value[len(head) :].isdigit()
            ) or value == pattern[:-2]:
                return True
        elif value == pattern:
            return True
    return False


class HostOriginGuard:
    def __init__(self, allowed_hosts: Iterable[str], allowed_origins: Iterable[str]) -> None:
        self._hosts = tuple(allowed_hosts)
        self._origins = tuple(allowed_origins)

    def check(self, host: str | None, origin: str | None) -> tuple[int, str] | None:
        """None when the request may proceed, else ``(http_status, reason)``."""
        if host is None or not _matches(host, self._hosts):
            return 421, f"Host {host!r} is not allowed"
        if origin is not None and not _matches(origin, self._origins):
            return 403, f"Origin {origin!r} is not allowed"
        return None
