"""Azure AI Content Safety Prompt Shields as a rule engine: ``POST
<endpoint>/contentsafety/text:shieldPrompt?api-version=2024-09-01``
(learn.microsoft.com/azure/ai-services/content-safety/quickstart-jailbreak), header
``Ocp-Apim-Subscription-Key: <engine secret>``.

Request: on the request leg the text is the user's prompt, ``{"userPrompt": <text>, "documents":
[]}``; on the response leg it is a document the model will read (an indirect attack lives there),
``{"userPrompt": "", "documents": [<text>]}``. Answer: ``attackDetected`` true in
``userPromptAnalysis`` or in any of ``documentsAnalysis`` is ``block``, else ``pass``.
"""

from __future__ import annotations

from typing import Any

import orjson

from lockgate.domain.rules import Direction, EngineRequest, RuleEngine, Verdict, VerdictKind
from lockgate.engines.http import EngineFailure, EngineHttp
from lockgate.engines.text import judged_text

PATH = "/contentsafety/text:shieldPrompt?api-version=2024-09-01"


async def ask(engine: RuleEngine, request: EngineRequest, http: EngineHttp) -> Verdict:
    """Prompt Shields' verdict on ``request``.

    Raises:
        EngineFailure: see ``EngineHttp.post``; no URL; an answer without ``userPromptAnalysis``.
    """
    text = judged_text(request)
    if text is None:
        return Verdict(VerdictKind.PASS)
    if not engine.url:
        raise EngineFailure("the Prompt Shields engine has no endpoint URL")
    if request.direction is Direction.REQUEST:
        body: dict[str, Any] = {"userPrompt": text, "documents": []}
    else:
        body = {"userPrompt": "", "documents": [text]}
    headers = {"content-type": "application/json", "ocp-apim-subscription-key": engine.secret or ""}
    answer = await http.post(f"{engine.url.rstrip('/')}{PATH}", orjson.dumps(body), headers)
    prompt = answer.get("userPromptAnalysis") if isinstance(answer, dict) else None
    if not isinstance(prompt, dict):
        raise EngineFailure("Prompt Shields' answer has no userPromptAnalysis")
    documents = answer.get("documentsAnalysis")
    analyses = [prompt, *(documents if isinstance(documents, list) else [])]
    if any(isinstance(a, dict) and a.get("attackDetected") is True for a in analyses):
        return Verdict(VerdictKind.BLOCK, "Prompt Shields detected an attack")
    return Verdict(VerdictKind.PASS)
