"""What may go upstream as a header or an environment variable: the one validator every surface
(JSON API, CLI, admin MCP, web form, declaration) and the upstream edge itself use.

A credential is data. An identity's values reach a server as HTTP header fields (http and sse
servers) or as environment variables of its process (stdio servers), so they must never become
framing or code there:

- A header name is an RFC 9110 §5.6.2 token and not one the gateway sets itself (HTTP framing,
  hop-by-hop fields of RFC 9110 §7.6.1, ``Proxy-*``, the MCP transport headers of MCP 2025-11-25 and
  2026-07-28 basic/transports); a value is visible ASCII, SP and HTAB (RFC 9110 §5.5 without
  obs-text: a CR or LF would start a new field, or a new request on a kept-alive connection).
- An identity of a stdio server sets only the environment variables its server's administrator
  declared (``identity_env``), and never one that loaders and interpreters read as code or search
  paths (``LD_PRELOAD``, ``PYTHONSTARTUP``, ``NODE_OPTIONS``, ``BROWSER``, ``PATH`` ...), even when
  declared: the deny-list holds against the administrator too.

Errors name the offending field, never its value (values are secrets).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Final

MAX_NAME: Final = 128
MAX_VALUE: Final = 8192
MAX_FIELDS: Final = 64

FIELD_NAME: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}\Z")
"""A header field name: an RFC 9110 §5.6.2 token."""
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}\Z")  # POSIX.1-2017 §8.1, portable names
_IDENTITY_ENV_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,127}\Z")
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # NUL, CR, LF ...: all but HTAB (RFC 9110 §5.5)
FIELD_VALUE: Final = re.compile(r"[\t\x20-\x7e]*\Z")
"""A header field value we send: visible ASCII, SP and HTAB (RFC 9110 §5.5 without obs-text)."""

RESERVED_HEADERS: Final = frozenset(
    {
        "accept",
        "connection",
        "content-length",
        "content-type",
        "host",
        "keep-alive",
        "last-event-id",
        "mcp-method",
        "mcp-name",
        "mcp-protocol-version",
        "mcp-session-id",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
"""Header names (lower case) the gateway sets itself on upstream requests: HTTP framing, hop-by-hop
fields, and the MCP transport headers. ``Proxy-*`` and ``Mcp-Param-*`` are reserved as prefixes."""
_RESERVED_PREFIXES: Final = ("proxy-", "mcp-param-")

DENIED_ENV: Final = frozenset(
    {
        "BROWSER",
        "CDPATH",
        "CLASSPATH",
        "EDITOR",
        "ENV",
        "GCONV_PATH",
        "GLOBIGNORE",
        "HOME",
        "HOSTALIASES",
        "IFS",
        "LANG",
        "LANGUAGE",
        "LOCALDOMAIN",
        "NLSPATH",
        "OLDPWD",
        "PAGER",
        "PATH",
        "PROMPT_COMMAND",
        "PS4",
        "PWD",
        "REQUESTS_CA_BUNDLE",
        "RES_OPTIONS",
        "TEMP",
        "TERMINFO",
        "TMP",
        "TMPDIR",
        "TZDIR",
        "VISUAL",
    }
)
"""Environment variables an identity may never set: read as code, a command, or a search path by
shells, libc and common tools, or inherited from the gateway's own process (``PATH``, ``HOME``,
``LANG``)."""
DENIED_ENV_PREFIXES: Final = (
    "BASH_",
    "BUN_",
    "CORECLR_",
    "COREHOST_",
    "CURL_",
    "DENO_",
    "DOTNET_",
    "DYLD_",
    "GEM_",
    "GIT_",
    "GLIBC_",
    "JAVA_",
    "JDK_",
    "LC_",
    "LD_",
    "LUA_",
    "MALLOC_",
    "NODE_",
    "NPM_",
    "OPENSSL_",
    "PERL",
    "PHP",
    "PYTHON",
    "RUBY",
    "SHELL",
    "SSL_",
    "XDG_",
    "YARN_",
)
"""Prefixes of the loader (``LD_*``, ``DYLD_*``), interpreter (``PYTHON*``, ``NODE_*``, ``PERL*``,
``RUBY*``, ``JAVA_*`` ...), shell and TLS variables an identity may never set."""
_DENIED_ENV_SUFFIXES: Final = ("_PROXY",)  # HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY: egress


class UpstreamValueError(ValueError):
    """A header or environment variable that may not go upstream; the message names the field
    (never its value) and says why."""


def check_header(name: str, value: str) -> None:
    """Raises UpstreamValueError unless ``name: value`` is a header field an identity or a server's
    configuration may send: a token (RFC 9110 §5.6.2) not in ``RESERVED_HEADERS``, and a value of at
    most ``MAX_VALUE`` visible ASCII characters, SP and HTAB."""
    if not FIELD_NAME.match(name):
        raise UpstreamValueError(f"{name[:MAX_NAME]!r} is not a header name (RFC 9110 token characters)")
    lowered = name.lower()
    if lowered in RESERVED_HEADERS or lowered.startswith(_RESERVED_PREFIXES):
        raise UpstreamValueError(f"header {name!r} is set by the gateway itself and cannot be given")
    if len(value) > MAX_VALUE or not FIELD_VALUE.match(value):  # one match on the hot path
        _check_value(f"header {name!r}", value)
        raise UpstreamValueError(f"the value of header {name!r} holds a character other than visible ASCII")


def check_headers(headers: Mapping[str, str]) -> None:
    """Raises UpstreamValueError unless every field passes ``check_header`` and there are at most
    ``MAX_FIELDS``, with no name given twice in different case (RFC 9110 §5.1)."""
    _check_count("headers", headers)
    seen: set[str] = set()
    for name, value in headers.items():
        check_header(name, value)
        if name.lower() in seen:
            raise UpstreamValueError(f"header {name!r} is given twice")
        seen.add(name.lower())


def check_server_env(env: Mapping[str, str]) -> None:
    """Raises UpstreamValueError unless a stdio server's own environment (its administrator's) has
    portable names (POSIX.1-2017 §8.1) and values without control characters. The administrator already
    chooses the command line, so the identity deny-list does not apply here."""
    _check_count("env", env)
    for name, value in env.items():
        if not _ENV_NAME.match(name):
            raise UpstreamValueError(f"{name[:MAX_NAME]!r} is not an environment variable name")
        _check_value(f"environment variable {name!r}", value)


def check_identity_env_name(name: str) -> None:
    """Raises UpstreamValueError unless an identity may set the environment variable ``name``:
    upper-case letters, digits and ``_``, starting with a letter, and not denied (``DENIED_ENV``,
    ``DENIED_ENV_PREFIXES``, ``*_PROXY``)."""
    if not _IDENTITY_ENV_NAME.match(name):
        raise UpstreamValueError(
            f"{name[:MAX_NAME]!r} is not an environment variable an identity may set "
            "(upper-case letters, digits and _, starting with a letter)"
        )
    if name in DENIED_ENV or name.startswith(DENIED_ENV_PREFIXES) or name.endswith(_DENIED_ENV_SUFFIXES):
        raise UpstreamValueError(
            f"environment variable {name!r} configures a loader, an interpreter or the process "
            "itself; an identity may never set it"
        )


def check_identity_env(values: Mapping[str, str], declared: Collection[str]) -> None:
    """Raises UpstreamValueError unless an identity of a stdio server sets only environment
    variables its server declares for identities (``declared``), each passing
    ``check_identity_env_name``, with values without control characters."""
    _check_count("env", values)
    for name, value in values.items():
        check_identity_env_name(name)
        if name not in declared:
            allowed = ", ".join(sorted(declared)) or "none: its administrator must declare them"
            raise UpstreamValueError(
                f"environment variable {name!r} is not one this server's identities may set "
                f"(identity_env: {allowed})"
            )
        _check_value(f"environment variable {name!r}", value)


def check_identity_values(stdio: bool, values: Mapping[str, str], identity_env: Collection[str]) -> None:
    """Raises UpstreamValueError unless an identity's ``values`` may go to its server: environment
    variables a stdio server declares (``check_identity_env``), else header fields
    (``check_headers``); none of them empty."""
    for name, value in values.items():
        if not value:
            raise UpstreamValueError(f"{name[:MAX_NAME]!r} has an empty value")
    if stdio:
        check_identity_env(values, identity_env)
    else:
        check_headers(values)


def _check_count(what: str, fields: Mapping[str, str]) -> None:
    if len(fields) > MAX_FIELDS:
        raise UpstreamValueError(f"at most {MAX_FIELDS} {what} may be given, not {len(fields)}")


def _check_value(what: str, value: str) -> None:
    if len(value) > MAX_VALUE:
        raise UpstreamValueError(f"the value of {what} is longer than {MAX_VALUE} characters")
    if _CONTROLS.search(value):
        raise UpstreamValueError(f"the value of {what} holds a control character (NUL, CR, LF ...)")
