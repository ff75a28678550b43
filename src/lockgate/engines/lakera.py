"""Lakera Guard as a rule engine: ``POST <endpoint>/v2/guard`` (docs.lakera.ai/docs/api/guard).

Request: ``Authorization: Bearer <engine secret>``, body ``{"messages": [{"role": "user" |
"assistant", "content": <text>}], "project_id"?: <setting>}``: the scanned strings of the message
(``rules.scan``), one per line, as the user's turn on the request leg and the assistant's on the
response leg. Answer: ``{"flagged": true}`` is ``block``, ``false`` is ``pass``. A message with no
text to judge passes without a call.
"""

from __future__ import annotations

import orjson

from lockgate.domain.rules import Direction, EngineRequest, RuleEngine, Verdict, VerdictKind
from lockgate.engines.http import EngineFailure, EngineHttp
from lockgate.engines.text import judged_text

ENDPOINT = "https://api.lakera.ai"
PATH = "/v2/guard"


async def ask(engine: RuleEngine, request: EngineRequest, http: EngineHttp) -> Verdict:
    """Lakera Guard's verdict on ``request``.

    Raises:
        EngineFailure: see ``EngineHttp.post``; an answer without a boolean ``flagged``.
    """
    text = judged_text(request)
    if text is None:
        return Verdict(VerdictKind.PASS)
    role = "user" if request.direction is Direction.REQUEST else "assistant"
    body: dict[str, object] = {"messages": [{"role": role, "content": text}]}
    if project := engine.settings.get("project_id"):
        body["project_id"] = project
    headers = {"content-type": "application/json", "authorization": f"Bearer {engine.secret or ''}"}
    answer = await http.post(f"{(engine.url or ENDPOINT).rstrip('/')}{PATH}", orjson.dumps(body), headers)
    flagged = answer.get("flagged") if isinstance(answer, dict) else None
    if not isinstance(flagged, bool):
        raise EngineFailure("Lakera Guard's answer has no flagged field")
    return (
        Verdict(VerdictKind.BLOCK, "Lakera Guard flagged the message")
        if flagged
        else Verdict(VerdictKind.PASS)
    )
