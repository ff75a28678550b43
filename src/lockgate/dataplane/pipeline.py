"""One ordered pipeline for every message to or from a server, and the one writer of its legs.

A client message is authenticated by the endpoint (``auth.py``), then each message it causes to a
server runs: request steps (the first resolves access, ``steps.ResolveAccess``) → send → response
steps → answer. Relayed server→client requests (sampling, elicitation, roots) and notifications
(progress, logging) run the same request steps on their way to the client. A step is any object with
the ``Step`` signature; it may change the message, or stop it by raising ``Refusal``. Steps never
write legs: this module does, around the list, in the order the audit pins (``gateway_refused`` for
a refusal, ``gateway_feature_blocked`` for a feature withheld, ``policy_enforced_abort`` for a gateway
rule; ``mcp_request_*`` then ``mcp_response_*`` for a send). The ``mcp_request`` leg stores the
params as the request steps left them, the ``mcp_response`` leg, recorded once the response steps
ran, the response as they left it, each with what a step noted of it (``Message.noted``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from lockgate.dataplane.errors import JsonRpcError, Refusal
from lockgate.dataplane.exchange import Exchange
from lockgate.domain.audit import degraded_body
from lockgate.domain.mcp import Client, JsonObject
from lockgate.domain.model import Assignment


@dataclass(slots=True)
class Noted:
    """What a step says about one leg's audit: ``rules``, what gateway rules did
    (``RuleOutcome.to_json`` values), and ``stored``, the body to store instead of the message's own
    (None: the message's own; e.g. a ``domain.audit.degraded_body`` note, as bytes so it is stored
    as is, for a response a rule blocked)."""

    rules: Sequence[Mapping[str, Any]] = ()
    stored: Any = None


@dataclass(slots=True)
class Message:
    """One message on its way: ``to_server`` (a request of the client's, or an MRTR retry) or to the
    client (a relayed request or notification). ``response`` is filled in once the server answered.
    ``noted`` holds what steps note for the ``mcp_request`` and ``mcp_response`` legs, by leg name
    (``"request"``, ``"response"``); ``header_params`` the tool's ``x-mcp-header`` arguments
    (argument → header suffix) once ``steps.MirrorParamHeaders`` read them; ``call``, for a message
    to the client, the call to a server it comes during (a relayed request's ``response`` is the
    client's answer)."""

    method: str
    params: JsonObject | None
    assignment: Assignment | None
    to_server: bool = True
    response: JsonObject | None = None
    noted: dict[str, Noted] = field(default_factory=dict)
    header_params: Mapping[str, str] | None = None
    call: Message | None = None


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
            message.response, duration = await self._send(ex, message, send)
            try:
                for step in self.responses:
                    await step(ex, message)
            except Refusal:
                _record_response(ex, message, duration)
                raise
            except BaseException:
                _record_response(ex, message, duration, withheld="the response steps failed")
                raise
            _record_response(ex, message, duration)
        except Refusal as refusal:
            self.record_refusal(ex, refusal)
            raise
        return message.response

    async def inspect(self, ex: Exchange, message: Message) -> None:
        """Run the request steps over ``message`` (an MRTR retry runs them again).

        Raises:
            Refusal: a step stopped the message.
        """
        try:
            for step in self.requests:
                await step(ex, message)
        except Refusal:
            raise
        except BaseException:  # a fault, a cancellation: what the rules would have seen is not stored
            ex.withhold_arrival("withheld: the request's inspection did not end")
            raise

    def relaying(self, ex: Exchange, call: Message, client: Client) -> Client:
        """``client`` with its relays of server→client requests and notifications during ``call`` run
        through the request steps, which may change their params, and a relayed request's answer
        (``Message.response``) through them again on its way to the server: a refused request or
        answer is answered to the server with the refusal's error, a refused notification is dropped."""
        ask, emit = client.on_request, client.on_notification
        assignment = call.assignment

        async def on_request(method: str, params: JsonObject | None) -> JsonObject:
            assert ask is not None
            message = Message(method, params, assignment, to_server=False, call=call)
            try:
                await self._toward_client(ex, message)
                message.response = await ask(method, message.params)
                await self._toward_client(ex, message)  # now the client's answer, on its way back
            except Refusal as refusal:
                return {"error": refusal.to_error()}
            return message.response

        async def on_notification(notification: JsonObject) -> None:
            assert emit is not None
            params = notification.get("params")
            message = Message(notification.get("method", ""), params, assignment, False, call=call)
            try:
                await self._toward_client(ex, message)
            except Refusal:
                return
            await emit(
                notification if message.params is params else {**notification, "params": message.params}
            )

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
            rules=refusal.outcomes or None,
        )

    async def _toward_client(self, ex: Exchange, message: Message) -> None:
        try:
            await self.inspect(ex, message)
        except Refusal as refusal:
            self.record_refusal(ex, refusal)
            raise

    async def _send(self, ex: Exchange, message: Message, send: Send) -> tuple[JsonObject, float]:
        """The response and the milliseconds the server took; records the ``mcp_request`` leg (and
        the ``mcp_response`` leg of a failed send)."""
        server = message.assignment.server.name if message.assignment else None
        sent_at, t0 = time.time(), time.perf_counter()
        try:
            response = await send(ex, message)
        except SendError as exc:
            _record_request(ex, message, sent_at, exc.failure if not exc.sent else None)
            if exc.sent:
                duration = (time.perf_counter() - t0) * 1000
                ex.record("mcp_response_error", server=server, duration_ms=duration, error=exc.failure)
            raise exc.error from None
        duration = (time.perf_counter() - t0) * 1000
        _record_request(ex, message, sent_at, None)
        return response, duration


def _record_request(ex: Exchange, message: Message, sent_at: float, unsent: str | None) -> None:
    """The ``mcp_request_*`` leg: ``unsent`` is why nothing left the gateway (None: it was sent)."""
    noted = message.noted.get("request", Noted())
    ex.record(
        "mcp_request_success" if unsent is None else "mcp_request_error",
        server=message.assignment.server.name if message.assignment else None,
        body=message.params if noted.stored is None else noted.stored,
        created_at=sent_at,
        error=unsent,
        rules=noted.rules or None,
    )


def _record_response(ex: Exchange, message: Message, duration: float, withheld: str | None = None) -> None:
    """The ``mcp_response_*`` leg once the response steps ran: the response as they left it, or
    what they noted to store instead, or, when they failed (``withheld``), a note in its place."""
    response = message.response
    assert response is not None
    noted = message.noted.get("response", Noted())
    error = response.get("error")
    stored = noted.stored if withheld is None else degraded_body(f"withheld: {withheld}").encode()
    ex.record(
        "mcp_response_error" if is_error_response(response) else "mcp_response_success",
        server=message.assignment.server.name if message.assignment else None,
        duration_ms=duration,
        status=error.get("code") if isinstance(error, dict) else None,
        body=response if stored is None else stored,
        rules=noted.rules or None,
    )
