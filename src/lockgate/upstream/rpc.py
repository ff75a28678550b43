"""JSON-RPC 2.0 from the client side, over whatever carries the messages.

Mints upstream request ids (ids are per sender, so front ids would collide across clients), maps
progress tokens, relays server→client requests to the front client of the call they relate to, and
sends ``notifications/cancelled`` when a call is abandoned (MCP basic/utilities/cancellation).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from lockgate.domain.mcp import Client, JsonObject
from lockgate.upstream.base import OnServerNotification, UpstreamUnavailableError
from lockgate.upstream.listen import LISTEN

log = logging.getLogger(__name__)

METHOD_NOT_FOUND = -32601
UNRELATED_REQUEST = {
    "code": METHOD_NOT_FOUND,
    "message": "the gateway relays server requests only within the client call they belong to",
}


@dataclass(slots=True)
class _Pending:
    future: asyncio.Future[JsonObject]
    client: Client
    front_progress_token: Any = None
    background: bool = False  # the gateway's own listen: never the call an unrelated message is for


class RpcPeer:
    """Client side of one JSON-RPC conversation.

    ``send(message, client)`` delivers one message upstream (``client`` is the caller of a request,
    None for notifications and answers); for HTTP it also pumps the response stream back into
    ``receive``. ``send_cancellations`` is False where closing the stream is the cancellation (MCP
    2026-07-28 over HTTP).
    """

    def __init__(
        self,
        send: Callable[[JsonObject, Client | None], Awaitable[None]],
        on_unrelated: OnServerNotification,
        *,
        send_cancellations: bool = True,
    ) -> None:
        self._send = send
        self._on_unrelated = on_unrelated
        self.send_cancellations = send_cancellations  # may change once the era is known
        self._next_id = 0
        self._pending: dict[int, _Pending] = {}
        self._relays: dict[Any, asyncio.Task[None]] = {}

    @property
    def in_flight(self) -> int:
        """Calls waiting for a response (the gateway's own listen is not one)."""
        return sum(1 for p in self._pending.values() if not p.background)

    def waiting_for(self, request_id: int) -> bool:
        """True while the call ``request_id`` has had no response."""
        pending = self._pending.get(request_id)
        return pending is not None and not pending.future.done()

    def _rewrite_progress(self, request_id: int, params: JsonObject | None, pending: _Pending) -> Any:
        meta = params.get("_meta") if params else None
        if not isinstance(meta, dict) or "progressToken" not in meta:
            return params
        pending.front_progress_token = meta["progressToken"]
        assert params is not None
        return {**params, "_meta": {**meta, "progressToken": request_id}}

    async def request(self, method: str, params: JsonObject | None, client: Client) -> JsonObject:
        """Send a request and wait for its response (``result`` or ``error``).

        Raises:
            UpstreamUnavailableError: the channel failed before a response came.
        """
        self._next_id += 1
        request_id = self._next_id
        loop = asyncio.get_running_loop()
        pending = _Pending(loop.create_future(), client, background=method == LISTEN)
        message: JsonObject = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = self._rewrite_progress(request_id, params, pending)
        self._pending[request_id] = pending
        try:
            await self._send(message, client)
            return await pending.future
        except asyncio.CancelledError:
            if self.send_cancellations and method != "initialize":
                await self._cancel_upstream(request_id)
            raise
        finally:
            self._pending.pop(request_id, None)

    async def _cancel_upstream(self, request_id: int) -> None:
        note = {
            "method": "notifications/cancelled",
            "params": {"requestId": request_id, "reason": "cancelled"},
        }
        with contextlib.suppress(Exception):
            await asyncio.shield(self.notify_raw(note))

    async def notify_raw(self, message: JsonObject) -> None:
        await self._send({"jsonrpc": "2.0", **message}, None)

    def fail_all(self, error: Exception) -> None:
        """Fail every call still waiting: the channel is gone."""
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(error)
        for task in self._relays.values():
            task.cancel()

    async def receive(self, message: JsonObject, related: int | None = None) -> None:
        """Dispatch one message from the server. ``related`` names the call whose stream carried it.
        A message not shaped as JSON-RPC 2.0 says (a string ``method``, object ``params``, a string or
        integer ``id``) is dropped: a server's values are data, never a fault of the gateway's."""
        if not _well_formed(message):
            log.debug("dropping a message that is not JSON-RPC from the server")
            return
        if "method" not in message:
            self._on_response(message)
        elif "id" in message:
            self._on_request(message, related)
        else:
            await self._on_notification(message, related)

    def _on_response(self, message: JsonObject) -> None:
        pending = self._pending.get(message.get("id"))  # type: ignore[arg-type]
        if pending is None or pending.future.done():
            log.debug("dropping a response to no pending request: id=%r", message.get("id"))
            return
        response = {k: v for k, v in message.items() if k in ("result", "error")}
        pending.future.set_result(response or {"error": {"code": -32603, "message": "empty response"}})

    def _relate(self, related: int | None) -> _Pending | None:
        if related is not None:
            return self._pending.get(related)
        calls = [p for p in self._pending.values() if not p.background]
        return calls[0] if len(calls) == 1 else None  # no relation: only an unambiguous call

    def _on_request(self, message: JsonObject, related: int | None) -> None:
        pending = self._relate(related)
        task = asyncio.create_task(self._answer(message, pending))
        key = message["id"]
        self._relays[key] = task
        task.add_done_callback(lambda _t: self._relays.pop(key, None))

    async def _answer(self, message: JsonObject, pending: _Pending | None) -> None:
        method = message["method"]
        if method == "ping":
            response: JsonObject = {"result": {}}
        elif pending is None or pending.client.on_request is None:
            response = {"error": UNRELATED_REQUEST}
        else:
            try:
                response = await pending.client.on_request(method, message.get("params"))
            except asyncio.CancelledError:
                return
            except Exception as exc:  # the front client went away: tell the server
                response = {"error": {"code": -32603, "message": f"the client could not answer: {exc}"}}
        with contextlib.suppress(UpstreamUnavailableError):
            await self._send({"jsonrpc": "2.0", "id": message["id"], **response}, None)

    def _end_listen(self, request_id: Any) -> None:
        """The server tore down our listen ``request_id`` (MCP 2026-07-28 basic/patterns/cancellation):
        it fails, so its owner may listen again."""
        pending = self._pending.get(request_id) if type(request_id) is int else None
        if pending is not None and pending.background and not pending.future.done():
            pending.future.set_exception(UpstreamUnavailableError("the server ended the subscription"))

    async def _on_notification(self, message: JsonObject, related: int | None) -> None:
        method = message["method"]
        params = message.get("params") or {}
        if method == "notifications/progress":
            pending = self._pending.get(params.get("progressToken"))  # type: ignore[arg-type]
            if pending is not None and pending.client.on_notification is not None:
                restored = {**params, "progressToken": pending.front_progress_token}
                await pending.client.on_notification({"method": method, "params": restored})
            return
        if method == "notifications/cancelled":
            task = self._relays.get(params.get("requestId"))
            if task is not None:
                task.cancel()
            self._end_listen(params.get("requestId"))
            return
        if method == "notifications/message":
            pending = self._relate(related)
            if pending is not None and pending.client.on_notification is not None:
                await pending.client.on_notification(message)
            return
        await self._on_unrelated(message)


def _well_formed(message: JsonObject) -> bool:
    """``message`` has the member types JSON-RPC 2.0 §4 gives them (a response may carry a null id)."""
    request_id = message.get("id")
    if request_id is not None and (type(request_id) is not int and not isinstance(request_id, str)):
        return False
    if "method" not in message:
        return True
    params = message.get("params")
    return isinstance(message["method"], str) and (params is None or isinstance(params, dict))
