"""``x-mcp-header`` parameters of a ``tools/call`` (MCP 2026-07-28 streamable-http §Custom headers,
SEP-2243): the front client's ``Mcp-Param-*`` headers are checked against the arguments, and the
same headers are generated for the upstream server."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lockgate.dataplane.errors import HEADER_MISMATCH, JsonRpcError
from lockgate.domain.mcp_headers import (
    HeaderValueError,
    decode_header_value,
    encode_header_value,
    header_text,
    same_value,
)


def check_param_headers(
    headers: Mapping[str, str], params: Mapping[str, str], arguments: Mapping[str, Any]
) -> None:
    """Every annotated argument present in the body must be mirrored, equal, in its header.

    Raises:
        JsonRpcError: 400 -32020 for a missing, undecodable or different header.
    """
    for argument, suffix in params.items():
        name = f"mcp-param-{suffix.lower()}"
        present = headers.get(name)
        if argument not in arguments or arguments[argument] is None:
            continue
        if present is None:
            raise _mismatch(f"header Mcp-Param-{suffix} is missing but the body carries '{argument}'", suffix)
        try:
            value = decode_header_value(present)
        except HeaderValueError as exc:
            raise _mismatch(str(exc), suffix) from None
        if not same_value(value, arguments[argument]):
            raise _mismatch(f"header Mcp-Param-{suffix} does not match the body's '{argument}'", suffix)


def upstream_param_headers(params: Mapping[str, str], arguments: Mapping[str, Any]) -> dict[str, str]:
    """The ``Mcp-Param-*`` headers a server expects for these arguments."""
    return {
        f"Mcp-Param-{suffix}": encode_header_value(header_text(arguments[argument]))
        for argument, suffix in params.items()
        if arguments.get(argument) is not None
    }


def _mismatch(message: str, suffix: str) -> JsonRpcError:
    return JsonRpcError(HEADER_MISMATCH, message, {"header": f"Mcp-Param-{suffix}"}, http_status=400)
