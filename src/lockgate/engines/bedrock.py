"""AWS Bedrock Guardrails as a rule engine: ``ApplyGuardrail``, ``POST
https://bedrock-runtime.<region>.amazonaws.com/guardrail/<guardrail_id>/version/<guardrail_version>/apply``
(docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ApplyGuardrail.html), signed with AWS
Signature Version 4 by botocore (service ``bedrock``; access key id from the settings, secret access
key the engine's secret), sent through the gateway's guarded client.

Request: ``{"source": "INPUT" | "OUTPUT", "content": [{"text": {"text": <string>}}, ...]}``, one
content block per scanned string (``INPUT`` on the request leg, ``OUTPUT`` on the response leg).
Answer: ``action`` ``NONE`` is ``pass``; ``GUARDRAIL_INTERVENED`` with any assessment whose
``action`` is ``BLOCKED`` is ``block``; intervened otherwise (masked sensitive information) is
``modify``: each scanned string becomes the text of the output at its index, which needs one output
per content block (else the answer is a failure).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from lockgate.domain.rules import Direction, EngineRequest, RuleEngine, Verdict, VerdictKind
from lockgate.engines.http import EngineFailure, EngineHttp
from lockgate.engines.text import judged_strings
from lockgate.rules.scan import rewritten

SERVICE = "bedrock"


def endpoint(engine: RuleEngine) -> str:
    """The engine's URL, or Bedrock runtime's public endpoint in its region."""
    return (engine.url or f"https://bedrock-runtime.{engine.settings['region']}.amazonaws.com").rstrip("/")


def sigv4_headers(engine: RuleEngine, url: str, content: bytes) -> dict[str, str]:
    """The headers of a SigV4-signed POST of ``content`` to ``url`` (``Authorization``,
    ``X-Amz-Date``, ``Content-Type``)."""
    credentials = Credentials(str(engine.settings["access_key_id"]), engine.secret or "")
    signed = AWSRequest(method="POST", url=url, data=content, headers={"Content-Type": "application/json"})
    SigV4Auth(credentials, SERVICE, str(engine.settings["region"])).add_auth(signed)
    return {name: value for name, value in signed.headers.items()}


async def ask(engine: RuleEngine, request: EngineRequest, http: EngineHttp) -> Verdict:
    """The guardrail's verdict on ``request``.

    Raises:
        EngineFailure: see ``EngineHttp.post``; an unknown ``action``; masked outputs that do not
            line up with the content blocks.
    """
    strings = judged_strings(request)
    if not strings:
        return Verdict(VerdictKind.PASS)
    guardrail = quote(str(engine.settings["guardrail_id"]), safe="")
    version = quote(str(engine.settings["guardrail_version"]), safe="")
    url = f"{endpoint(engine)}/guardrail/{guardrail}/version/{version}/apply"
    body = {
        "source": "INPUT" if request.direction is Direction.REQUEST else "OUTPUT",
        "content": [{"text": {"text": text}} for _, text in strings],
    }
    content = orjson.dumps(body)
    answer = await http.post(url, content, sigv4_headers(engine, url, content))
    action = answer.get("action") if isinstance(answer, dict) else None
    if action == "NONE":
        return Verdict(VerdictKind.PASS)
    if action != "GUARDRAIL_INTERVENED":
        raise EngineFailure("Bedrock's answer has no known action")
    if _blocked(answer.get("assessments")):
        return Verdict(VerdictKind.BLOCK, "the Bedrock guardrail blocked the message")
    outputs = answer.get("outputs")
    texts = (
        [o["text"] for o in outputs if isinstance(o, dict) and isinstance(o.get("text"), str)]
        if isinstance(outputs, list)
        else []
    )
    if len(texts) != len(strings) or len(texts) != len(outputs):
        raise EngineFailure("Bedrock's masked outputs do not line up with the text sent")
    edits = {path: text for (path, _), text in zip(strings, texts, strict=True)}
    return Verdict(
        VerdictKind.MODIFY, "the Bedrock guardrail masked the message", rewritten(request.body, edits)
    )


def _blocked(assessments: Any) -> bool:
    """Whether any policy finding of ``assessments`` (topics, content filters, words, sensitive
    information, contextual grounding) has ``action`` ``BLOCKED``."""
    stack = [assessments]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("action") == "BLOCKED":
                return True
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False
