"""Gateway rules inline (spec §2, issue 12 §1, §2, §4, §5): the last request step and a response step.

Only messages to a server whose method rules may look at (``SCANNABLE_METHODS``), their responses
(results and errors), and what a server sends the client during such a call (notifications, relayed
requests: the response direction of the call; the client's answer to a relayed request: its request
direction) are inspected, by the rules of the caller's gateway that apply to the leg, the call's
method, assignment and tool (``Rule.applies``; the tool by the name its server gives it);
``rules.scan`` says which strings of each message they see. The whole JSON-RPC message goes through
``rules.evaluate`` (the one decision, shared with ``lockgate rules test``), then:

* a rule blocked it: refused with -32017 (``RULE_BLOCKED``) "Request blocked by the gateway's rule
  'x'" (or "Response ..."), ``data.rule`` and ``data.ruleId``, leg ``policy_enforced_abort``; a
  blocked request never reaches the server, a blocked response never reaches the client, and the
  client never sees what matched;
* rules changed it: the params (or the response) are replaced, same id; a ``tools/call`` whose
  arguments changed gets its ``Mcp-Param-*`` headers to the server prepared again from them.

Audit (spec §5): what the rules did goes on the ``mcp_request`` (``mcp_response``) leg, or on the
``policy_enforced_abort`` leg when they blocked. Stored bodies are the bodies after the rules: the
held ``proxy_request`` leg (``Exchange.arrival``) stores the rewritten message, or a note in place
of a blocked one; a blocked response's ``mcp_response`` leg a note. A rule's ``store_original``
keeps the originals when every rule that acted asks for it. Alerts go to ``alerts.AlertWriter``.

Detection runs inline for a regex over a few short strings (at most ``INLINE_SEARCHES`` strings ×
patterns and ``INLINE_CHARS`` characters), and on a bounded pool of threads otherwise or for other
detectors (Presidio), one thread call per rule over all the strings. The whole inspection of one
message is bounded by ``LIMITS.inspection_s``: past it the message is refused (fail closed,
``inspection_timeout``) and its body is not stored. A gateway whose rules cannot be loaded has its
inspected messages refused (fail closed), never passed uninspected.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from lockgate.dataplane.alerts import Alert, AlertWriter
from lockgate.dataplane.errors import RULE_BLOCKED, Refusal
from lockgate.dataplane.exchange import Exchange, without_param_headers
from lockgate.dataplane.params import upstream_param_headers
from lockgate.dataplane.pipeline import Message, Noted
from lockgate.dataplane.rulebook import Book, RuleBook, RulesUnavailable
from lockgate.domain.audit import Leg, degraded_body
from lockgate.domain.rules import (
    GOVERNED_AS,
    LIMITS,
    SCANNABLE_METHODS,
    TOOLS_CALL,
    Direction,
    EngineDetection,
    EngineRequest,
    Rule,
    RuleEngine,
    Verdict,
)
from lockgate.rules.actions import Span
from lockgate.rules.detect import Detector, Prefilter, RegexDetector
from lockgate.rules.evaluate import Ask, DetectionFailed, Evaluation, evaluate, find_all

AskEngine = Callable[[RuleEngine, EngineRequest], Awaitable[Verdict]]
"""Asks a rule engine about one message; raises anything when the engine fails."""

INLINE_CHARS = 64 * 1024
"""Text a regex scans on the event loop, at most; more goes to the pool."""
INLINE_SEARCHES = 1024
"""Searches (strings × compiled patterns) a regex makes on the event loop, at most; more go to the pool."""
TIMED_OUT_NOTE = "withheld: the inspection of the message took too long"
BLOCKED_NOTE = "withheld: blocked by a gateway rule"
WITHHELD = degraded_body(BLOCKED_NOTE).encode()
"""What a leg stores in place of a body a rule blocked (JSON text, stored as is)."""
log = logging.getLogger(__name__)
ABORT_LEG = Leg.POLICY_ENFORCED_ABORT.value


class Finder:
    """``rules.evaluate.Find``: a regex that is cheap by both counts (``inline``) runs in place,
    anything else on ``threads`` worker threads."""

    def __init__(self, threads: int = 4) -> None:
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="lockgate-detect")

    async def __call__(self, detector: Detector, texts: list[str], deadline: float) -> list[list[Span]]:
        if inline(detector, texts):
            return find_all(detector, texts, deadline)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, find_all, detector, texts, deadline)

    def close(self) -> None:
        self._executor.shutdown(wait=True)


def inline(detector: Detector, texts: list[str]) -> bool:
    """Whether ``detector`` over ``texts`` is cheap enough for the event loop: a regex (a rule's, or
    the prefilter of them all) making at most ``INLINE_SEARCHES`` searches over at most
    ``INLINE_CHARS`` characters."""
    return (
        isinstance(detector, RegexDetector | Prefilter)
        and len(texts) * detector.patterns <= INLINE_SEARCHES
        and sum(len(t) for t in texts) <= INLINE_CHARS
    )


@dataclass(frozen=True, slots=True)
class Inspector:
    """What both steps share: the rules, where detection runs, the engines (``ask``; None: none can
    be reached, so engine rules fail by their failure mode) and the alerts."""

    rulebook: RuleBook
    find: Finder
    alerts: AlertWriter
    ask: AskEngine | None = None
    timeout_s: float = LIMITS.inspection_s

    async def evaluate(self, ex: Exchange, message: Message, leg: Direction) -> Evaluation | None:
        """The rules' evaluation of ``message`` on ``leg``, None when no rule looks at it.

        Raises:
            Refusal: the gateway's rules cannot be loaded, or the rules took longer than
                ``timeout_s`` (fail closed; the message's body is not stored).
        """
        assignment, call = message.assignment, message if message.to_server else message.call
        if assignment is None or call is None:
            return None
        governed = GOVERNED_AS.get(call.method, call.method)
        if message.to_server and governed not in SCANNABLE_METHODS:
            return None
        if message.to_server and leg is Direction.RESPONSE and not _answered(message.response):
            return None
        try:
            book = await self.rulebook.rules(ex.access.principal.gateway_id, ex.access.change)
        except RulesUnavailable as exc:
            raise Refusal(
                RULE_BLOCKED,
                f"{_noun(leg)} refused: {exc.reason}; inspected calls are refused until they can be",
                "rules_unavailable",
                server=assignment.server.name,
                leg=ABORT_LEG,
            ) from None
        where = assignment.name or assignment.server.name
        scanned = governed in SCANNABLE_METHODS
        method, tool = (governed, _feature(call)) if scanned else (TOOLS_CALL, None)
        # what a server sends the client during any call (a completion, a list, a prompt) also meets
        # the rules every tool call meets: a server may not route around them by its choice of call
        applying = [
            c
            for c in book.compiled
            if c.rule.applies(leg, method, where, tool)
            or (not message.to_server and c.rule.applies(leg, TOOLS_CALL, where, None))
        ]
        if not applying:
            return None
        whole = _whole(ex, message, leg)
        ask = self._asker(ex, message, leg, book) if self.ask is not None else None
        try:
            async with asyncio.timeout(self.timeout_s):
                result = await evaluate(
                    applying,
                    leg,
                    message.method,
                    whole,
                    key=book.rules.hash_key,
                    ask=ask,
                    find=self.find,
                    prefilter=book.prefilter,
                )
        except TimeoutError:
            raise self._timed_out(ex, message, leg) from None
        for outcome in result.outcomes:
            if outcome.reason is not None:
                log.warning(
                    "rule %d (%r) could not decide on the %s of %s (correlation id %s): %s; %s",
                    outcome.rule_id,
                    outcome.rule,
                    leg.value,
                    message.method,
                    ex.correlation_id,
                    outcome.reason,
                    outcome.action.replace("_", " "),
                )
        if result.outcomes:
            self._alert(ex, message, leg, book, result)
        return result

    def _timed_out(self, ex: Exchange, message: Message, leg: Direction) -> Refusal:
        """The refusal of a message whose inspection outlasted ``timeout_s``, its body withheld."""
        assert message.assignment is not None
        log.warning(
            "the rules' inspection of the %s of %s (correlation id %s) took over %g s; refused",
            leg.value,
            message.method,
            ex.correlation_id,
            self.timeout_s,
        )
        if leg is Direction.REQUEST:
            ex.withhold_arrival(TIMED_OUT_NOTE)
        else:
            message.noted["response"] = Noted((), degraded_body(TIMED_OUT_NOTE).encode())
        return Refusal(
            RULE_BLOCKED,
            f"{_noun(leg)} blocked: the gateway's rules took longer than {self.timeout_s:g} s to inspect it",
            "inspection_timeout",
            server=message.assignment.server.name,
            leg=ABORT_LEG,
        )

    def _asker(self, ex: Exchange, message: Message, leg: Direction, book: Book) -> Ask:
        ask = self.ask
        assert ask is not None and message.assignment is not None
        principal, assignment = ex.access.principal, message.assignment

        async def asking(rule: Rule, body: Mapping[str, Any]) -> Verdict:
            assert isinstance(rule.detection, EngineDetection)
            engine = book.rules.engines.get(rule.detection.engine)
            if engine is None:
                raise DetectionFailed(f"the rule engine {rule.detection.engine!r} does not exist")
            request = EngineRequest(
                rule_id=rule.id,
                rule=rule.name,
                engine_id=engine.id,
                engine=engine.name,
                user_id=principal.user_id,
                user_email=principal.user_email,
                host=principal.host,
                gateway_id=principal.gateway_id,
                gateway=principal.gateway,
                server=assignment.name or assignment.server.name,
                tool=_feature(message.call or message),
                method=message.method,
                direction=leg,
                correlation_id=ex.correlation_id,
                time=time.time(),
                body=body,
            )
            return await ask(engine, request)

        return asking

    def _alert(self, ex: Exchange, message: Message, leg: Direction, book: Book, result: Evaluation) -> None:
        by_id = {rule.id: rule for rule in book.rules.rules}
        principal, assignment = ex.access.principal, message.assignment
        assert assignment is not None
        for outcome in result.alerting(by_id):
            details = {
                "gateway": principal.gateway,
                "ruleId": outcome.rule_id,
                "action": outcome.action,
                "matches": outcome.matches,
                "leg": leg.value,
                "correlationId": ex.correlation_id,
                "user": principal.user_email,
                "host": principal.host,
                "server": assignment.name or assignment.server.name,
                "tool": _feature(message.call or message),
                "method": message.method,
            }
            self.alerts.raise_alert(Alert(ex.correlation_id, outcome.rule, details))


@dataclass(frozen=True, slots=True)
class InspectRequest:
    """The request leg's rules (after ``steps.MirrorParamHeaders``, which checked the client's
    headers against the arguments as sent); for a message a server sends the client during a call
    (``Message.call``), the response-direction rules of that call, over the message's own strings,
    and for the client's answer to a relayed request, the call's request-direction rules."""

    inspector: Inspector

    async def __call__(self, ex: Exchange, message: Message) -> None:
        answer = not message.to_server and message.response is not None  # the client's, to the server
        leg = Direction.REQUEST if message.to_server or answer else Direction.RESPONSE
        result = await self.inspector.evaluate(ex, message, leg)
        if result is None:
            return
        outcomes = [o.to_json() for o in result.outcomes]
        if result.blocked is not None:
            if message.to_server and not result.store_original:
                ex.withhold_arrival(BLOCKED_NOTE)
            raise _blocked(leg, message, result, outcomes)
        original = message.params
        if result.changed and answer:
            message.response = {k: v for k, v in result.message.items() if k in ("result", "error")}
        elif result.changed:
            params = result.message.get("params")
            message.params = dict(params) if isinstance(params, Mapping) else None
        if not message.to_server:  # no leg of its own: the alerts and an abort leg say what rules did
            return
        if result.changed:
            arguments = (message.params or {}).get("arguments")
            if message.header_params:
                prepared = arguments if isinstance(arguments, dict) else {}
                ex.client.upstream_headers = upstream_param_headers(message.header_params, prepared)
            if not result.store_original:
                _rewrite_arrival(ex, message)
        stored = original if result.changed and result.store_original else None
        message.noted["request"] = Noted(outcomes, stored)


@dataclass(frozen=True, slots=True)
class InspectResponse:
    """The response leg's rules."""

    inspector: Inspector

    async def __call__(self, ex: Exchange, message: Message) -> None:
        result = await self.inspector.evaluate(ex, message, Direction.RESPONSE)
        if result is None:
            return
        outcomes = [o.to_json() for o in result.outcomes]
        original = message.response
        if result.blocked is not None:
            message.noted["response"] = Noted((), None if result.store_original else WITHHELD)
            raise _blocked(Direction.RESPONSE, message, result, outcomes)
        if result.changed:
            replaced = result.message
            key = "result" if "result" in replaced else "error"
            message.response = {key: replaced.get(key)}
        stored = original if result.changed and result.store_original else None
        message.noted["response"] = Noted(outcomes, stored)


def _noun(leg: Direction) -> str:
    return "Request" if leg is Direction.REQUEST else "Response"


def _feature(message: Message) -> str | None:
    """The feature a message names as its server knows it: a tool's or prompt's name, a URI."""
    params = message.params or {}
    name = params.get("name", params.get("uri"))
    return name if isinstance(name, str) else None


def _answered(response: Mapping[str, Any] | None) -> bool:
    return response is not None and ("result" in response or "error" in response)


def _whole(ex: Exchange, message: Message, leg: Direction) -> dict[str, Any]:
    """The whole JSON-RPC message rules see: the request as sent on, or its response (same id), or a
    message to the client as relayed, or the client's answer to it (ids are the relay's, not known
    here)."""
    if not message.to_server and message.response is not None:
        return {"jsonrpc": "2.0", **message.response}
    if not message.to_server:
        toward: dict[str, Any] = {"jsonrpc": "2.0", "method": message.method}
        if message.params is not None:
            toward["params"] = message.params
        return toward
    if leg is Direction.REQUEST:
        request: dict[str, Any] = {"jsonrpc": "2.0", "id": ex.request_id, "method": message.method}
        if message.params is not None:
            request["params"] = message.params
        return request
    return {"jsonrpc": "2.0", "id": ex.request_id, **(message.response or {})}


def _blocked(leg: Direction, message: Message, result: Evaluation, outcomes: list[dict[str, Any]]) -> Refusal:
    assert result.blocked is not None and message.assignment is not None
    rule = result.blocked.rule
    return Refusal(
        RULE_BLOCKED,
        f"{_noun(leg)} blocked by the gateway's rule '{rule.name}': {result.blocked.reason}",
        "rule_blocked",
        server=message.assignment.server.name,
        leg=ABORT_LEG,
        outcomes=outcomes,
        rule=rule.name,
        ruleId=rule.id,
    )


def _rewrite_arrival(ex: Exchange, message: Message) -> None:
    """The held ``proxy_request`` leg stores the message as the rules rewrote it (under the name the
    client called it by), with the argument headers as prepared for the server."""
    arrival = ex.arrival
    if arrival is None:
        return
    params = dict(message.params or {})
    client_name = (ex.params or {}).get("name")
    if "name" in params and client_name is not None:
        params["name"] = client_name
    arrival.body = {"jsonrpc": "2.0", "id": ex.request_id, "method": ex.method, "params": params}
    headers = without_param_headers(arrival.headers)
    arrival.headers = [*headers, *((k.lower(), v) for k, v in ex.client.upstream_headers.items())]
