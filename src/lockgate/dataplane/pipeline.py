"""One ordered pipeline for every message to or from a server, and the one writer of its legs.

A client message is authenticated by the endpoint (``auth.py``), then each message it causes to a
server runs: request steps (the first resolves access, ``steps.ResolveAccess``) → send → response
steps → answer. Relayed server→client requests (sampling, elicitation, roots) and notifications
(progress, logging) run the same request steps on their way to the client. A step is any object with
the ``Step`` signature; it may change the message, or stop it by raising ``Refusal``. Steps never
write legs: this module does, around the list, in the order the audit pins (``gateway_refused`` for
a refusal, ``gateway_feature_blocked`` for a feature withheld; ``mcp_request_*`` then
``mcp_response_*`` for a send).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from lockgate.dataplane.errors import JsonRpcError, Refusal
from lockgate.dataplane.exchange import Exchange
from lockgate.domain.mcp import Client, JsonObject
from lockgate.domain.model import Assignment


@dataclass(slots=True)
class Message:
    """One message on its way: ``to_server`` (a request of the client's, or an MRTR retry) or to the
    client (a relayed request or notification). ``response`` is filled in once the server answered."""

    method: str
    params: JsonObject | None
    assignment: Assignment | None
    to_server: bool = True
    response: JsonObject | None = None


class Step(Protocol):
    """One step of the pipeline. Raises ``Refusal`` to stop the message."""

    async def __call__(self, ex: Exchange, message: Message) -> None: ...


class SendError(Exception):
    """The server could not be asked or did not answer: ``error`` is answered to the client,
    ``failure`` recorded; ``sent`` is False when nothing left the gateway."""

    def __init__(self, error: JsonRpcError, failure: str, *, sent: bool = True) -> None:
        super().__init__(failure)
        self.error = error
        self.failure = failure
        self.sent = sent


Send = Callable[[Exchange, Message], Awaitable[JsonObject]]
"""Sends a message to its server and returns the response; raises ``SendError`` or ``Refusal``."""


def is_error_response(response: JsonObject) -> bool:
    """A JSON-RPC error, or a tool result flagged ``isError`` (MCP server/tools §Error Handling)."""
    result = response.get("result")
    return "error" in response or (isinstance(result, dict) and result.get("isError") is True)


class Pipeline:
    """The ordered steps around every send: ``requests`` before, ``responses`` after."""

    def __init__(self, requests: Sequence[Step], responses: Sequence[Step] = ()) -> None:
        self.requests = tuple(requests)
        self.responses = tuple(responses)

    async def answer(self, ex: Exchange, handle: Callable[[Exchange], Awaitable[JsonObject]]) -> JsonObject:
        """``handle``'s answer to a client message; a refusal on the way is recorded once.

        Raises:
            JsonRpcError: the message is refused or failed; its legs are recorded.
        """
        try:
            return await handle(ex)
        except Refusal as refusal:
            self.record_refusal(ex, refusal)
            raise

    async def carry(self, ex: Exchange, message: Message, send: Send) -> JsonObject:
        """Run the request steps, ``send``, then the response steps; record the legs.

        Raises:
            JsonRpcError: refused by a step (``Refusal``) or the send failed; legs recorded.
        """
        try:
            await self.inspect(ex, message)
            message.response = await self._send(ex, message, send)
            for step in self.responses:
                await step(ex, message)
        except Refusal as refusal:
            self.record_refusal(ex, refusal)
            raise
        return message.response

    async def inspect(self, ex: Exchange, message: Message) -> None:
        """Run the request steps over ``message`` (an MRTR retry runs them again).

        Raises:
            Refusal: a step stopped the message.
        """
        for step in self.requests:
            await step(ex, message)

    def relaying(self, ex: Exchange, assignment: Assignment, client: Client) -> Client:
        """``client`` with its relays of server→client requests and notifications run through the
        request steps: a refused request is answered with the refusal's error, a refused
        notification is dropped."""
        ask, emit = client.on_request, client.on_notification

        async def on_request(method: str, params: JsonObject | None) -> JsonObject:
            assert ask is not None
            try:
                await self._toward_client(ex, Message(method, params, assignment, to_server=False))
            except Refusal as refusal:
                return {"error": refusal.to_error()}
            return await ask(method, params)

        async def on_notification(notification: JsonObject) -> None:
            assert emit is not None
            message = Message(notification.get("method", ""), notification.get("params"), assignment, False)
            try:
                await self._toward_client(ex, message)
            except Refusal:
                return
            await emit(notification)

        return dataclasses.replace(
            client,
            on_request=on_request if ask is not None else None,
            on_notification=on_notification if emit is not None else None,
        )

    def record_refusal(self, ex: Exchange, refusal: Refusal) -> None:
        if refusal.recorded:
            return
        refusal.recorded = True
        ex.record(
            refusal.leg,
            server=refusal.server,
            status=refusal.code,
            error=f"{refusal.reason}: {refusal.message}",
        )

    async def _toward_client(self, ex: Exchange, message: Message) -> None:
        try:
            await self.inspect(ex, message)
        except Refusal as refusal:
            self.record_refusal(ex, refusal)
            raise

    async def _send(self, ex: Exchange, message: Message, send: Send) -> JsonObject:
        server = message.assignment.server.name if message.assignment else None
        sent_at, t0 = time.time(), time.perf_counter()
        try:
            response = await send(ex, message)
        except SendError as exc:
            _record_send(ex, server, sent_at, t0, message.params, None, exc.failure, sent=exc.sent)
            raise exc.error from None
        _record_send(ex, server, sent_at, t0, message.params, response, None)
        return response


def _record_send(
    ex: Exchange,
    server: str | None,
    sent_at: float,
    t0: float,
    params: JsonObject | None,
    response: JsonObject | None,
    failure: str | None,
    *,
    sent: bool = True,
) -> None:
    """The ``mcp_request_*`` leg and, when it was sent, the ``mcp_response_*`` leg of one send."""
    duration = (time.perf_counter() - t0) * 1000
    ex.record(
        "mcp_request_success" if sent else "mcp_request_error",
        server=server,
        body=params,
        created_at=sent_at,
        error=None if sent else failure,
    )
    if not sent:
        return
    if response is None:
        ex.record("mcp_response_error", server=server, duration_ms=duration, error=failure)
        return
    error = response.get("error")
    ex.record(
        "mcp_response_error" if is_error_response(response) else "mcp_response_success",
        server=server,
        duration_ms=duration,
        status=error.get("code") if isinstance(error, dict) else None,
        body=response,
    )
