"""Header values mirrored from the body (MCP 2026-07-28 basic/transports/streamable-http §Standard
and custom headers, SEP-2243): encoding, strict decoding, and ``x-mcp-header`` parameters."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

_B64 = re.compile(r"=\?base64\?(.*)\?=\Z", re.DOTALL)
_SAFE = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?\Z")


class HeaderValueError(ValueError):
    """A ``=?base64?...?=`` value that is not valid Base64 (bad padding or characters)."""


def encode_header_value(value: str) -> str:
    """Visible ASCII as is; anything else (non-ASCII, control characters, edge whitespace, empty)
    as ``=?base64?...?=``."""
    if _SAFE.match(value):
        return value
    return "=?base64?" + base64.b64encode(value.encode()).decode() + "?="


def decode_header_value(value: str) -> str:
    """The value a header carries: trimmed of optional whitespace (RFC 9110 §5.5) and, when wrapped
    as ``=?base64?...?=``, Base64-decoded. A value without the full wrapper is literal.

    Raises:
        HeaderValueError: the wrapper holds invalid Base64 or bytes that are not UTF-8.
    """
    value = value.strip(" \t")
    match = _B64.match(value)
    if match is None:
        return value
    try:
        return base64.b64decode(match.group(1), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise HeaderValueError(f"invalid Base64 in header value {value!r}") from exc


def param_headers(tool: dict[str, Any]) -> dict[str, str]:
    """``{argument: header suffix}`` for a tool's ``x-mcp-header`` annotated input properties."""
    properties = (tool.get("inputSchema") or {}).get("properties") or {}
    return {
        name: schema["x-mcp-header"]
        for name, schema in properties.items()
        if isinstance(schema, dict) and isinstance(schema.get("x-mcp-header"), str)
    }


def header_text(value: Any) -> str:
    """How an argument value is written in a header: JSON booleans in lower case, numbers as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def same_value(header: str, value: Any) -> bool:
    """Does a decoded header value stand for this argument value? Numbers compare numerically."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return float(header) == float(value)
        except ValueError:
            return False
    return header == header_text(value)
