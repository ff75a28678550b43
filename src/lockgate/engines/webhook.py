"""Lockgate's own rule engine contract: the envelope the gateway POSTs to a webhook engine and the
verdict it answers (docs/rule-engines.md; JSON Schemas in docs/schemas/rule-engine-*.schema.json).

Request: ``{"metadata": {...}, "body": <the JSON-RPC message>}`` as UTF-8 JSON, with the engine's
configured headers and, when the engine has a ``whsec_`` secret, the Standard Webhooks headers
(``webhook-id``, ``webhook-timestamp``, ``webhook-signature``; standardwebhooks.com spec v1) signing
the exact bytes sent.

Answer: ``{"verdict": "pass" | "block" | "modify" | "error", "reason"?: str, "modifiedPayload"?:
{"body": <JSON-RPC message>}}``. ``error`` and anything malformed are failures (the rule's failure
mode decides); a ``modify`` body is checked by ``verdicts.check_replacement``.
"""

from __future__ import annotations

import datetime
import time
import uuid
from typing import Any

import orjson

from lockgate.domain.rules import EngineRequest, RuleEngine, Verdict, VerdictKind
from lockgate.engines.http import EngineFailure, EngineHttp
from lockgate.engines.verdicts import check_replacement, clean_reason
from lockgate.webhooks.signing import sign

JSON = "application/json"


def envelope(request: EngineRequest) -> dict[str, Any]:
    """The request envelope of ``request``: ``metadata`` (camelCase, ``time`` RFC 3339 UTC with
    milliseconds) and ``body``."""
    when = datetime.datetime.fromtimestamp(request.time, tz=datetime.UTC)
    return {
        "metadata": {
            "ruleId": request.rule_id,
            "rule": request.rule,
            "ruleEngineId": request.engine_id,
            "ruleEngine": request.engine,
            "userId": request.user_id,
            "userEmail": request.user_email,
            "host": request.host,
            "gatewayId": request.gateway_id,
            "gateway": request.gateway,
            "server": request.server,
            "tool": request.tool,
            "method": request.method,
            "direction": request.direction.value,
            "correlationId": request.correlation_id,
            "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "test": request.test,
        },
        "body": request.body,
    }


def signed_headers(engine: RuleEngine, content: bytes) -> dict[str, str]:
    """``Content-Type`` and, when ``engine`` has a secret, the Standard Webhooks headers of
    ``content`` (a fresh message id, the current time)."""
    headers = {"content-type": JSON}
    if engine.secret:
        headers |= sign(engine.secret, f"msg_{uuid.uuid4().hex}", int(time.time()), content)
    return headers


def read_verdict(answer: Any, request: EngineRequest) -> Verdict:
    """The verdict of an engine's ``answer`` (parsed JSON) to ``request``.

    Raises:
        EngineFailure: not an object, an unknown verdict, ``error``, or a ``modify`` without a valid
            replacement body.
    """
    if not isinstance(answer, dict):
        raise EngineFailure("the engine's answer is not a JSON object")
    reason = clean_reason(answer.get("reason"))
    verdict = answer.get("verdict")
    if verdict == VerdictKind.PASS:
        return Verdict(VerdictKind.PASS)
    if verdict == VerdictKind.BLOCK:
        return Verdict(VerdictKind.BLOCK, reason)
    if verdict == VerdictKind.ERROR:
        raise EngineFailure(f"the engine answered error: {reason or 'no reason given'}")
    if verdict == VerdictKind.MODIFY:
        payload = answer.get("modifiedPayload")
        body = payload.get("body") if isinstance(payload, dict) else None
        return Verdict(VerdictKind.MODIFY, reason, check_replacement(request.body, body))
    raise EngineFailure("the engine answered an unknown verdict")


async def ask(engine: RuleEngine, request: EngineRequest, http: EngineHttp) -> Verdict:
    """Ask the webhook engine at ``engine.url`` about ``request``.

    Raises:
        EngineFailure: see ``EngineHttp.post`` and ``read_verdict``; a message that is no JSON
            (e.g. a key that is not a string).
    """
    if not engine.url:
        raise EngineFailure("the webhook engine has no URL")
    try:
        content = orjson.dumps(envelope(request))
    except orjson.JSONEncodeError:
        raise EngineFailure("the message cannot be encoded as JSON") from None
    return read_verdict(await http.post(engine.url, content, signed_headers(engine, content)), request)
