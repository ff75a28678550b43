"""The ``Bearer`` challenge of a ``WWW-Authenticate`` header (RFC 6750 §3, RFC 9728 §5.1)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(r"[A-Za-z0-9_!#$%&'*+.^`|~-]+")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_BARE_VALUE = re.compile(r"[^\s,]*")


@dataclass(frozen=True)
class Challenge:
    """The parameters of a ``Bearer`` challenge; absent ones are None.

    ``resource_metadata`` is the RFC 9728 protected resource metadata URL, ``scope`` the
    space-separated scopes the request needs (MCP authorization §Scope Selection), ``error`` e.g.
    ``invalid_token`` or ``insufficient_scope`` (RFC 6750 §3.1).
    """

    resource_metadata: str | None = None
    scope: str | None = None
    error: str | None = None
    error_description: str | None = None

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple(self.scope.split()) if self.scope else ()


def parse_challenge(header: str | None) -> Challenge:
    """The ``Bearer`` challenge in ``header`` (which may list several challenges, RFC 9110 §11.6.1);
    an empty ``Challenge`` when there is none. Never raises: a malformed header yields what parsed."""
    if not header:
        return Challenge()
    params = _bearer_params(header)
    return Challenge(
        resource_metadata=params.get("resource_metadata"),
        scope=params.get("scope"),
        error=params.get("error"),
        error_description=params.get("error_description"),
    )


def _bearer_params(header: str) -> dict[str, str]:
    """Walks the header once: a token followed by ``=`` is a parameter of the current challenge,
    any other token starts a new challenge (RFC 9110 §11.2 ``challenge = auth-scheme [ 1*SP ...]``)."""
    challenges: list[tuple[str, dict[str, str]]] = []
    pos = 0
    while pos < len(header):
        if header[pos] in " \t,":
            pos += 1
            continue
        token = _TOKEN.match(header, pos)
        if token is None:  # not a token: skip one character and resynchronise
            pos += 1
            continue
        pos = token.end()
        rest = header[pos:].lstrip(" \t")
        if not rest.startswith("=") or not challenges:
            challenges.append((token.group().lower(), {}))
            continue
        pos = len(header) - len(rest) + 1
        while pos < len(header) and header[pos] in " \t":
            pos += 1
        quoted = _QUOTED.match(header, pos)
        if quoted is not None:
            value, pos = re.sub(r"\\(.)", r"\1", quoted.group(1)), quoted.end()
        else:
            bare = _BARE_VALUE.match(header, pos)
            value, pos = (bare.group(), bare.end()) if bare is not None else ("", pos)
        challenges[-1][1].setdefault(token.group().lower(), value)
    return next((params for scheme, params in challenges if scheme == "bearer"), {})
