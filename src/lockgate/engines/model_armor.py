"""Google Cloud Model Armor as a rule engine
(cloud.google.com/security-command-center/docs/sanitize-prompts-responses):
``POST https://modelarmor.<location>.rep.googleapis.com/v1/projects/<project>/locations/<location>/
templates/<template>:sanitizeUserPrompt`` with ``{"userPromptData": {"text": <text>}}`` on the request
leg, ``:sanitizeModelResponse`` with ``{"modelResponseData": {"text": <text>}}`` on the response leg.
``sanitizationResult.filterMatchState`` ``MATCH_FOUND`` is ``block``, anything else ``pass``.

Authentication: the engine's secret is a service account key (JSON). The adapter signs an RS256 JWT
assertion with its private key (RFC 7523 §2.1; claims ``iss``/``sub`` the client email, ``aud`` the
key's ``token_uri``, ``scope`` cloud-platform, one hour) and exchanges it at ``token_uri`` for an
access token (through the guarded client, within the ask's deadline), kept until a minute before it
expires.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from urllib.parse import urlencode

import anyio
import orjson
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from lockgate.domain.rules import LIMITS, Direction, EngineRequest, RuleEngine, Verdict, VerdictKind
from lockgate.engines.http import EngineFailure, EngineHttp
from lockgate.engines.settings import EngineDefinitionError, service_account
from lockgate.engines.text import judged_text

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_S = 3600
EARLY_S = 60  # a cached token is renewed this long before it expires


def endpoint(engine: RuleEngine) -> str:
    """The engine's URL, or Model Armor's regional endpoint for its location."""
    return (engine.url or f"https://modelarmor.{engine.settings['location']}.rep.googleapis.com").rstrip("/")


@dataclass(slots=True)
class _Token:
    """One service account's access token (empty until exchanged), valid until ``until`` (Unix
    seconds); ``lock`` makes concurrent asks wait for one exchange instead of each making one."""

    lock: anyio.Lock = field(default_factory=anyio.Lock)
    value: str = ""
    until: float = 0.0


class ModelArmor:
    """The Model Armor adapter, holding access tokens per service account key (at most
    ``LIMITS.engines``, the least recently used dropped first; keyed by a hash of the key, never
    the key)."""

    def __init__(self) -> None:
        self._tokens: OrderedDict[str, _Token] = OrderedDict()

    async def ask(self, engine: RuleEngine, request: EngineRequest, http: EngineHttp) -> Verdict:
        """Model Armor's verdict on ``request``.

        Raises:
            EngineFailure: see ``EngineHttp.post``; an unusable key; no token; an answer without a
                ``sanitizationResult``.
        """
        text = judged_text(request)
        if text is None:
            return Verdict(VerdictKind.PASS)
        settings = engine.settings
        location = settings["location"]
        template = f"projects/{settings['project']}/locations/{location}/templates/{settings['template']}"
        if request.direction is Direction.REQUEST:
            url, body = (
                f"{endpoint(engine)}/v1/{template}:sanitizeUserPrompt",
                {"userPromptData": {"text": text}},
            )
        else:
            url, body = (
                f"{endpoint(engine)}/v1/{template}:sanitizeModelResponse",
                {"modelResponseData": {"text": text}},
            )
        token = await self.access_token(engine.secret or "", http)
        headers = {"content-type": "application/json", "authorization": f"Bearer {token}"}
        answer = await http.post(url, orjson.dumps(body), headers)
        result = answer.get("sanitizationResult") if isinstance(answer, dict) else None
        if not isinstance(result, dict):
            raise EngineFailure("Model Armor's answer has no sanitizationResult")
        if result.get("filterMatchState") == "MATCH_FOUND":
            return Verdict(VerdictKind.BLOCK, "Model Armor found a match of its template's filters")
        return Verdict(VerdictKind.PASS)

    async def access_token(self, secret: str, http: EngineHttp) -> str:
        """An access token for the service account key ``secret``: cached, or exchanged once however
        many asks need it at the same time.

        Raises:
            EngineFailure: the key cannot sign, or the token endpoint gives no token.
        """
        cache_key = hashlib.sha256(secret.encode()).hexdigest()
        token = self._tokens.get(cache_key) or _Token()
        self._tokens[cache_key] = token
        self._tokens.move_to_end(cache_key)
        while len(self._tokens) > LIMITS.engines:
            self._tokens.popitem(last=False)
        async with token.lock:
            if token.until <= time.time():
                token.value, token.until = await exchange(secret, http)
        return token.value


async def exchange(secret: str, http: EngineHttp) -> tuple[str, float]:
    """A new access token for the service account key ``secret`` and until when to use it (Unix
    seconds): an RS256 JWT assertion (RFC 7523 §2.1) POSTed to the key's ``token_uri``.

    Raises:
        EngineFailure: the key cannot sign, or the token endpoint gives no token.
    """
    try:
        account = service_account(secret)
        key = RSAKey.import_key(account["private_key"])
    except (EngineDefinitionError, JoseError, ValueError):
        raise EngineFailure("the service account key cannot sign") from None
    header = {"alg": "RS256", "typ": "JWT"}
    if "private_key_id" in account:
        header["kid"] = account["private_key_id"]
    now = int(time.time())
    claims = {
        "iss": account["client_email"],
        "sub": account["client_email"],
        "aud": account["token_uri"],
        "scope": SCOPE,
        "iat": now,
        "exp": now + ASSERTION_S,
    }
    form = urlencode({"grant_type": GRANT_TYPE, "assertion": jwt.encode(header, claims, key)})
    answer = await http.post(
        account["token_uri"], form.encode(), {"content-type": "application/x-www-form-urlencoded"}
    )
    token = answer.get("access_token") if isinstance(answer, dict) else None
    lifetime = answer.get("expires_in", ASSERTION_S) if isinstance(answer, dict) else 0
    if not isinstance(token, str) or not token or not isinstance(lifetime, int):
        raise EngineFailure("the token endpoint gave no access token")
    return token, now + lifetime - EARLY_S
