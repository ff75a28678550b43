"""The MCP endpoint ``/mcp/{gateway}``: Streamable HTTP for both protocol eras on one URL.

One POST carries one JSON-RPC message (no batches since 2025-06-18). The era is chosen by the
message: modern ``_meta`` (or a modern ``MCP-Protocol-Version``) is served statelessly; anything else
is legacy and, but for ``initialize``, needs its ``Mcp-Session-Id``. GET opens a legacy session's
stream for notifications unrelated to any call; DELETE ends a session; modern clients get 405 for both.

Every POST the audit takes leaves its legs, malformed bodies (``messages.parse_message``) and internal
errors included; while the audit cannot take them (``AuditRecorder.admit``) a POST is answered 503
``-32015`` with ``Retry-After`` at once, before its body is read.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from collections.abc import MutableMapping
from typing import Any

import orjson

from lockgate.audit.recorder import AuditRecorder, Leg
from lockgate.dataplane.aggregation import Aggregator
from lockgate.dataplane.auth import AuthError, LoadAccess, authenticate
from lockgate.dataplane.cancellation import cancel_for_client, is_client_cancellation
from lockgate.dataplane.errors import (
    AUDIT_UNAVAILABLE,
    GATEWAY_BUSY,
    INTERNAL_ERROR,
    INVALID_REQUEST,
    MODERN_HTTP_STATUS,
    UPSTREAM_FAILED,
    JsonRpcError,
    error_message,
)
from lockgate.dataplane.exchange import Exchange
from lockgate.dataplane.forwarding import Forwarder
from lockgate.dataplane.front import discover_result, initialize_result, modern_result
from lockgate.dataplane.guard import HostOriginGuard
from lockgate.dataplane.hub import Hub, served_by
from lockgate.dataplane.incoming import (
    BodyTooLargeError,
    Incoming,
    Receive,
    Scope,
    Send,
    feature_name,
    read_body,
)
from lockgate.dataplane.listening import Listening
from lockgate.dataplane.messages import MessageError, parse_message
from lockgate.dataplane.modern import is_modern, validate_modern
from lockgate.dataplane.pipeline import Pipeline, is_error_response
from lockgate.dataplane.responder import Responder, send_json
from lockgate.dataplane.sessions import FrontSession, SessionLimitError, SessionRegistry
from lockgate.dataplane.streams import DisconnectWatch, serve_listen, serve_session_stream
from lockgate.dataplane.subscriptions import SUBSCRIBE, UNSUBSCRIBE, forward_subscription
from lockgate.domain.features import LIST_METHODS
from lockgate.domain.mcp import (
    LEGACY_VERSIONS,
    META_CLIENT_CAPABILITIES,
    META_CLIENT_INFO,
    Client,
    Era,
    JsonObject,
)
from lockgate.domain.model import Access

log = logging.getLogger(__name__)
SESSION_HEADER = b"mcp-session-id"
CORRELATION_HEADER = b"x-correlation-id"


class McpEndpoint:
    """ASGI app serving ``/mcp/{gateway}``. Every request is authenticated and its toggles read fresh."""

    def __init__(
        self,
        *,
        load_access: LoadAccess,
        token_key: bytes,
        pipeline: Pipeline,
        forwarder: Forwarder,
        aggregator: Aggregator,
        recorder: AuditRecorder,
        sessions: SessionRegistry,
        hub: Hub,
        listening: Listening,
        guard: HostOriginGuard,
        max_body_bytes: int,
    ) -> None:
        self._load_access = load_access
        self._key = token_key
        self._pipeline = pipeline
        self._forwarder = forwarder
        self._aggregator = aggregator
        self._recorder = recorder
        self._sessions = sessions
        self._hub = hub
        self._listening = listening
        self._guard = guard
        self._max_body = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request; a bug answers -32603 naming the correlation id, never a traceback, and
        leaves a ``proxy_response_error`` leg. A request its client ended
        (``dataplane/cancellation.py``) ends here, quietly."""
        started = False
        correlation_id = str(uuid.uuid4())

        async def tracking_send(message: MutableMapping[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._serve(scope, receive, tracking_send, correlation_id)
        except asyncio.CancelledError as exc:
            if not is_client_cancellation(exc):
                raise
        except Exception:
            log.exception("internal error serving %s (correlation id %s)", scope.get("path"), correlation_id)
            self._recorder.record(
                Leg(
                    correlation_id,
                    "proxy_response_error",
                    gateway=scope["path_params"]["gateway"],
                    status=500,
                    error="internal error in the gateway",
                )
            )
            if not started:
                error = JsonRpcError(
                    INTERNAL_ERROR,
                    f"internal error in the gateway; see its log ({correlation_id})",
                    {"correlation_id": correlation_id},
                )
                await self._plain(send, 500, None, error, [(CORRELATION_HEADER, correlation_id.encode())])

    async def _serve(self, scope: Scope, receive: Receive, send: Send, correlation_id: str) -> None:
        raw = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]
        incoming = Incoming(scope["path_params"]["gateway"], dict(raw), raw, correlation_id, receive)
        refused = self._guard.check(incoming.headers.get("host"), incoming.headers.get("origin"))
        if refused is not None:
            status, reason = refused
            await send_json(
                send, status, orjson.dumps(error_message(None, {"code": INVALID_REQUEST, "message": reason}))
            )
            return
        method = scope["method"]
        if method == "POST":
            await self._post(incoming, send)
        elif method in ("GET", "DELETE"):
            await self._session_request(method, incoming, send)
        else:
            await self._plain(
                send,
                405,
                None,
                JsonRpcError(INVALID_REQUEST, f"{method} is not supported"),
                [(b"allow", b"GET, POST, DELETE")],
            )

    # -- helpers -----------------------------------------------------------------------------------
    async def _plain(
        self,
        send: Send,
        status: int,
        request_id: Any,
        error: JsonRpcError,
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> bytes:
        body = orjson.dumps(error_message(request_id, error.to_error()))
        await send_json(send, status, body, extra)
        return body

    @staticmethod
    def _correlation(incoming: Incoming) -> list[tuple[bytes, bytes]]:
        return [(CORRELATION_HEADER, incoming.correlation_id.encode())]

    async def _authenticate(self, incoming: Incoming) -> Access:
        return await authenticate(
            self._load_access, self._key, incoming.headers, incoming.gateway, time.time()
        )

    def _leg(
        self, incoming: Incoming, access: Access | None, leg_type: str, method: str | None, **fields: Any
    ) -> None:
        self._release(incoming)
        principal = access.principal if access else None
        self._recorder.record(
            Leg(
                correlation_id=incoming.correlation_id,
                type=leg_type,
                method=method,
                user_email=principal.user_email if principal else None,
                host=principal.host if principal else None,
                gateway=principal.gateway if principal else incoming.gateway,
                trusted=access is not None,  # a stranger's text (and the id echoed back) is kept bounded
                **fields,
            )
        )

    async def _refuse(
        self,
        incoming: Incoming,
        send: Send,
        access: Access | None,
        method: str | None,
        request_id: Any,
        error: JsonRpcError,
        reason: str,
    ) -> None:
        """Answer a refusal and record its three legs (request, refusal, response)."""
        self._leg(
            incoming,
            access,
            "gateway_refused",
            method,
            status=error.http_status,
            error=f"{reason}: {error.message}",
        )
        extra = self._correlation(incoming)
        if isinstance(error, AuthError) and error.challenge:
            extra.append((b"www-authenticate", error.challenge.encode()))
        body = await self._plain(send, error.http_status, request_id, error, extra)
        self._leg(incoming, access, "proxy_response_error", method, status=error.http_status, body=body)

    # -- POST --------------------------------------------------------------------------------------
    async def _post(self, incoming: Incoming, send: Send) -> None:
        unavailable = await self._recorder.admit()
        if unavailable is not None:  # no legs: the audit cannot take them, which is the point
            retry_after = str(self._recorder.retry_after).encode()
            error = JsonRpcError(AUDIT_UNAVAILABLE, unavailable, {"retryAfter": self._recorder.retry_after})
            await self._plain(
                send, 503, None, error, [(b"retry-after", retry_after), *self._correlation(incoming)]
            )
            return
        try:
            body = await read_body(incoming.receive, self._max_body)
        except BodyTooLargeError:
            too_large = JsonRpcError(
                INVALID_REQUEST, f"the body exceeds {self._max_body} bytes", http_status=413
            )
            self._leg(incoming, None, "proxy_request_error", None, error=too_large.message)
            await self._refuse(incoming, send, None, None, None, too_large, "body_too_large")
            return
        try:
            message = parse_message(body)
        except MessageError as exc:
            self._leg(
                incoming,
                None,
                "proxy_request_error",
                exc.method,
                body=body,
                headers=incoming.raw_headers,
                error=exc.message,
            )
            await self._refuse(incoming, send, None, exc.method, exc.request_id, exc, "malformed_message")
            return
        await self._message(incoming, message, body, send)

    async def _message(self, incoming: Incoming, message: JsonObject, body: bytes, send: Send) -> None:
        """One well-formed message: its arrival leg, then its sender authenticated and it served."""
        method = message.get("method")
        request_id = message.get("id")
        params = message.get("params")
        arrived = Leg(
            incoming.correlation_id,
            "proxy_request_success",
            method=method,
            feature_name=feature_name(params),
            gateway=incoming.gateway,
            body=body,
            headers=incoming.raw_headers,
        )
        try:
            access = await self._authenticate(incoming)
        except AuthError as exc:
            arrived.trusted = False
            self._recorder.record(arrived)
            await self._refuse(incoming, send, None, method, request_id, exc, exc.reason)
            return
        arrived.user_email, arrived.host = access.principal.user_email, access.principal.host
        incoming.arrival = arrived  # held until the request steps ran (``Exchange.arrival``)
        try:
            if not isinstance(method, str):
                await self._client_response(incoming, access, message, send)
            elif "id" not in message:
                await self._client_notification(incoming, access, method, params, send)
            elif is_modern(incoming.headers, params):
                await self._modern_request(incoming, access, message, send)
            else:
                await self._legacy_request(incoming, access, message, send)
        finally:
            self._release(incoming)

    def _release(self, incoming: Incoming) -> None:
        """Record the held ``proxy_request`` leg, once."""
        arrival, incoming.arrival = incoming.arrival, None
        if arrival is not None:
            self._recorder.record(arrival)

    async def _accepted(self, incoming: Incoming, send: Send) -> None:
        await send({"type": "http.response.start", "status": 202, "headers": self._correlation(incoming)})
        await send({"type": "http.response.body", "body": b""})

    def _session(self, incoming: Incoming, access: Access) -> FrontSession | None:
        session_id = incoming.headers.get("mcp-session-id")
        if session_id is None:
            return None
        session = self._sessions.get(session_id, access.principal.connection_id)
        if session is not None:
            session.served = served_by(access)
        return session

    async def _client_response(
        self, incoming: Incoming, access: Access, message: JsonObject, send: Send
    ) -> None:
        """A legacy client answering a server→client request the gateway relayed to it."""
        session = self._session(incoming, access)
        future = session.pending.pop(str(message.get("id")), None) if session else None
        if future is None:
            error = JsonRpcError(
                INVALID_REQUEST, "no pending request has this id", http_status=404 if session is None else 400
            )
            await self._refuse(incoming, send, access, None, None, error, "no_pending_request")
            return
        if not future.done():
            future.set_result({k: v for k, v in message.items() if k in ("result", "error")})
        self._leg(incoming, access, "proxy_response_success", None, status=202)
        await self._accepted(incoming, send)

    async def _client_notification(
        self, incoming: Incoming, access: Access, method: str, params: Any, send: Send
    ) -> None:
        session = self._session(incoming, access)
        if session is not None and method == "notifications/cancelled" and isinstance(params, dict):
            task = session.in_flight.get(params.get("requestId"))
            if task is not None:
                cancel_for_client(task)
        self._leg(incoming, access, "proxy_response_success", method, status=202)
        await self._accepted(incoming, send)

    async def _legacy_request(
        self, incoming: Incoming, access: Access, message: JsonObject, send: Send
    ) -> None:
        method, request_id, params = message["method"], message.get("id"), message.get("params")
        if method == "initialize":
            await self._initialize(incoming, access, request_id, params, send)
            return
        version = incoming.headers.get("mcp-protocol-version")
        current = self._session(incoming, access)
        if version is not None and version.strip() not in LEGACY_VERSIONS:
            error = JsonRpcError(
                INVALID_REQUEST, f"unsupported MCP-Protocol-Version {version!r}", http_status=400
            )
            await self._refuse(incoming, send, access, method, request_id, error, "unsupported_version")
        elif "mcp-session-id" not in incoming.headers:
            error = JsonRpcError(
                INVALID_REQUEST, "Mcp-Session-Id is required: send initialize first", http_status=400
            )
            await self._refuse(incoming, send, access, method, request_id, error, "no_session")
        elif current is None:
            error = JsonRpcError(
                INVALID_REQUEST, "unknown or expired session: initialize again", http_status=404
            )
            await self._refuse(incoming, send, access, method, request_id, error, "unknown_session")
        else:
            client = Client(capabilities=current.capabilities, era=Era.LEGACY, info=current.client_info)
            await self._exchange(incoming, access, Era.LEGACY, message, client, send, current)

    async def _initialize(
        self, incoming: Incoming, access: Access, request_id: Any, params: Any, send: Send
    ) -> None:
        """Open a legacy session (MCP basic/lifecycle §Initialization), within the registry's bounds:
        params over their bounds get -32602, a gateway at its session cap 503 with -32016."""
        method = "initialize"
        params = params if isinstance(params, dict) else {}
        result = initialize_result(params.get("protocolVersion"))
        principal = access.principal
        try:
            session = self._sessions.create(
                principal.connection_id, principal.gateway_id, result["protocolVersion"], params
            )
        except JsonRpcError as exc:
            await self._refuse(incoming, send, access, method, request_id, exc, "invalid_params")
            return
        except SessionLimitError as exc:
            error = JsonRpcError(GATEWAY_BUSY, f"{exc}; initialize again later", http_status=503)
            await self._refuse(incoming, send, access, method, request_id, error, "session_limit")
            return
        body = orjson.dumps({"jsonrpc": "2.0", "id": request_id, "result": result})
        await send_json(
            send, 200, body, [(SESSION_HEADER, session.id.encode()), *self._correlation(incoming)]
        )
        self._leg(incoming, access, "proxy_response_success", method, status=200, body=body)

    async def _modern_request(
        self, incoming: Incoming, access: Access, message: JsonObject, send: Send
    ) -> None:
        method, request_id, params = message["method"], message.get("id"), message.get("params")
        try:
            validate_modern(incoming.headers, method, params)
        except JsonRpcError as exc:
            await self._refuse(incoming, send, access, method, request_id, exc, "invalid_request")
            return
        assert isinstance(params, dict)  # validate_modern made sure of it
        meta = params["_meta"]
        client = Client(
            capabilities=meta[META_CLIENT_CAPABILITIES], era=Era.MODERN, info=meta.get(META_CLIENT_INFO) or {}
        )
        if method == "subscriptions/listen":
            self._leg(incoming, access, "proxy_response_success", method, status=200)
            responder = Responder(send, prime=False, extra_headers=self._correlation(incoming))
            self._listening.open_connections(access, client)
            served, refresh = served_by(access), self._listening.refresh
            gateway_id = access.principal.gateway_id
            await serve_listen(
                self._hub, responder, request_id, params, served, incoming.receive, refresh, gateway_id
            )
            return
        await self._exchange(incoming, access, Era.MODERN, message, client, send, None)

    async def _exchange(
        self,
        incoming: Incoming,
        access: Access,
        era: Era,
        message: JsonObject,
        client: Client,
        send: Send,
        session: FrontSession | None,
    ) -> None:
        """Serve or forward one request and answer it, relaying what comes before the answer."""
        request_id = message.get("id")
        responder = Responder(send, prime=era is Era.LEGACY, extra_headers=self._correlation(incoming))
        client.on_notification = responder.emit
        if session is not None:
            client.on_request = session.relay(client.capabilities, responder.emit)
        ex = Exchange(
            incoming.correlation_id,
            access,
            era,
            message["method"],
            message.get("params"),
            client,
            self._recorder,
            request_id,
            incoming.headers,
            arrival=incoming.arrival,
        )
        incoming.arrival = None
        task = asyncio.current_task()
        if session is not None and task is not None:
            session.in_flight[request_id] = task
        watcher = DisconnectWatch(task, incoming.receive) if era is Era.MODERN else None
        http_status = 200
        try:
            response = await self._pipeline.answer(ex, functools.partial(self._answer, session=session))
        except JsonRpcError as exc:
            response = {"error": exc.to_error()}
            http_status = exc.http_status
        except asyncio.CancelledError:
            ex.record("proxy_response_error", error="cancelled by the client")
            raise
        finally:
            ex.release_arrival()
            if watcher is not None:
                watcher.stop()
            if session is not None:
                session.in_flight.pop(request_id, None)
        await self._reply(ex, responder, response, http_status)

    async def _reply(
        self, ex: Exchange, responder: Responder, response: JsonObject, http_status: int
    ) -> None:
        """Send the answer (in the client's era) and record its ``proxy_response`` leg."""
        request_id, era = ex.request_id, ex.era
        if era is Era.MODERN and "result" in response:
            response = {"result": modern_result(response["result"])}
        error_code = (response.get("error") or {}).get("code")
        status = http_status
        if era is Era.MODERN and isinstance(error_code, int):
            status = MODERN_HTTP_STATUS.get(error_code, http_status)
        try:
            body = await responder.finish({"jsonrpc": "2.0", "id": request_id, **response}, status)
        except orjson.JSONEncodeError:  # raised before anything is sent: the answer nests too deep
            log.warning("an answer to %s could not be serialized; answered -32012", ex.method)
            response = {
                "error": {"code": UPSTREAM_FAILED, "message": "the server's answer cannot be relayed"}
            }
            body = await responder.finish({"jsonrpc": "2.0", "id": request_id, **response}, status)
        ex.record(
            "proxy_response_error" if is_error_response(response) else "proxy_response_success",
            status=status,
            duration_ms=ex.elapsed_ms(),
            body=body,
        )

    async def _answer(self, ex: Exchange, session: FrontSession | None) -> JsonObject:
        if ex.method == "ping":
            return {"result": {}}
        if ex.method == "server/discover":
            return {"result": discover_result()}
        if session is not None and ex.method in (SUBSCRIBE, UNSUBSCRIBE):
            held = functools.partial(self._sessions.held_elsewhere, session)
            try:
                return await forward_subscription(session.subscriptions, ex, self._forwarder.handle, held)
            finally:
                self._listening.refresh(session.served)
        if ex.method in LIST_METHODS:
            return await self._aggregator.list(ex, LIST_METHODS[ex.method])
        return await self._forwarder.handle(ex)

    # -- GET and DELETE ------------------------------------------------------------------------------
    async def _session_request(self, method: str, incoming: Incoming, send: Send) -> None:
        if incoming.headers.get("mcp-protocol-version", "").strip() not in ("", *LEGACY_VERSIONS):
            await self._plain(
                send,
                405,
                None,
                JsonRpcError(INVALID_REQUEST, f"{method} is not part of the modern protocol"),
                [(b"allow", b"POST")],
            )
            return
        try:
            access = await self._authenticate(incoming)
        except AuthError as exc:
            await self._refuse(incoming, send, None, method, None, exc, exc.reason)
            return
        session = self._session(incoming, access)
        if session is None:
            status = 400 if "mcp-session-id" not in incoming.headers else 404
            await self._plain(
                send, status, None, JsonRpcError(INVALID_REQUEST, "a valid Mcp-Session-Id is required")
            )
            return
        if method == "DELETE":
            self._sessions.end(session)
            self._listening.refresh(session.served)  # its subscriptions are no longer watched
            await send_json(send, 200, b"{}")
            return
        if session.stream is not None:
            await self._plain(
                send, 409, None, JsonRpcError(INVALID_REQUEST, "this session already has a GET stream")
            )
            return
        client = Client(capabilities=session.capabilities, era=Era.LEGACY, info=session.client_info)
        self._listening.open_connections(access, client)
        await serve_session_stream(session, Responder(send, prime=True), incoming.receive)
