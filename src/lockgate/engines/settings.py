"""Whether a rule engine's definition can be used: the one check every surface (JSON API, CLI, admin
MCP, declaration) runs before saving one (docs/rule-engines.md, one section per kind).

``url`` is the webhook's URL, or a managed service's endpoint (scheme, host, port; the adapter
appends the documented path): required for ``webhook`` and ``prompt_shields``, optional for the
others (their public endpoint). ``settings`` holds exactly the fields of the kind (``FIELDS``).
Whether plain ``http`` may be used depends on the operator's allowed networks and is decided when
the engine is called (``http.check_transport_url``).

Errors name the field, never a secret's value.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from lockgate.domain.rules import LIMITS, EngineKind, RuleEngine
from lockgate.domain.upstream_values import UpstreamValueError, check_headers

URL_CHARS = 2048
_BEDROCK_GUARDRAIL = (
    r"[a-z0-9]{1,64}|arn:aws(-[a-z-]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:guardrail/[a-z0-9]{1,64}"
)
FIELDS: Mapping[EngineKind, Mapping[str, tuple[bool, re.Pattern[str]]]] = {
    EngineKind.WEBHOOK: {},
    EngineKind.LAKERA: {"project_id": (False, re.compile(r"[A-Za-z0-9_-]{1,128}"))},
    EngineKind.BEDROCK: {
        "region": (True, re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}")),
        "guardrail_id": (True, re.compile(_BEDROCK_GUARDRAIL)),
        "guardrail_version": (True, re.compile(r"[1-9][0-9]{0,7}|DRAFT")),
        "access_key_id": (True, re.compile(r"[A-Z0-9]{16,128}")),
    },
    EngineKind.MODEL_ARMOR: {
        "project": (True, re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")),
        "location": (True, re.compile(r"[a-z][a-z0-9-]{1,40}")),
        "template": (True, re.compile(r"[A-Za-z0-9_-]{1,63}")),
    },
    EngineKind.PROMPT_SHIELDS: {},
}
"""Per kind, each settings field: whether it is required, and the pattern its value must match whole
(the service's documented identifier syntax)."""
URL_REQUIRED = frozenset({EngineKind.WEBHOOK, EngineKind.PROMPT_SHIELDS})
SECRET_REQUIRED = frozenset(
    {EngineKind.LAKERA, EngineKind.BEDROCK, EngineKind.MODEL_ARMOR, EngineKind.PROMPT_SHIELDS}
)
SERVICE_ACCOUNT_FIELDS = ("client_email", "private_key", "token_uri")
RESERVED_PREFIX = "webhook-"  # the Standard Webhooks headers the gateway signs with


class EngineDefinitionError(ValueError):
    """A rule engine definition that cannot be used; the message names the field and says why."""


def check(engine: RuleEngine) -> None:
    """Raises EngineDefinitionError unless ``engine`` can be called: its URL, settings, headers,
    secret, timeout and retries (bounds in ``LIMITS``)."""
    _check_url(engine)
    _check_settings(engine.kind, engine.settings)
    _check_headers(engine.headers)
    _check_secret(engine.kind, engine.secret)
    low, high = LIMITS.engine_timeout_s
    if not low <= engine.timeout_s <= high:
        raise EngineDefinitionError(f"timeout_s must be between {low} and {high} seconds")
    if not 0 <= engine.retries <= LIMITS.engine_retries:
        raise EngineDefinitionError(f"retries must be between 0 and {LIMITS.engine_retries}")


def service_account(secret: str) -> dict[str, str]:
    """The fields of a Google service account key (JSON) that Model Armor's adapter uses.

    Raises:
        EngineDefinitionError: not a JSON object with string ``client_email``, ``private_key`` and
            an https ``token_uri``.
    """
    try:
        key = json.loads(secret)
    except ValueError:
        raise EngineDefinitionError(
            "the secret of a model_armor engine is a service account key (JSON)"
        ) from None
    if not isinstance(key, dict) or not all(isinstance(key.get(f), str) for f in SERVICE_ACCOUNT_FIELDS):
        raise EngineDefinitionError(
            "the service account key needs client_email, private_key and token_uri (strings)"
        )
    if urlsplit(key["token_uri"]).scheme not in ("https", "http"):
        raise EngineDefinitionError("the service account key's token_uri is not an http(s) URL")
    return {f: key[f] for f in (*SERVICE_ACCOUNT_FIELDS, "private_key_id") if isinstance(key.get(f), str)}


def _check_url(engine: RuleEngine) -> None:
    if engine.url is None:
        if engine.kind in URL_REQUIRED:
            raise EngineDefinitionError(f"a {engine.kind.value} engine needs a url")
        return
    parts = urlsplit(engine.url) if len(engine.url) <= URL_CHARS else None
    if parts is None or parts.scheme not in ("https", "http") or not parts.hostname:
        raise EngineDefinitionError(f"url must be an http(s) URL of at most {URL_CHARS} characters")
    if parts.username is not None or parts.password is not None or parts.fragment:
        raise EngineDefinitionError("url may not hold credentials or a fragment")
    if engine.kind is not EngineKind.WEBHOOK and (parts.path not in ("", "/") or parts.query):
        raise EngineDefinitionError(
            f"the url of a {engine.kind.value} engine is the service's endpoint "
            "(scheme, host, port), without a path"
        )


def _check_settings(kind: EngineKind, settings: Mapping[str, Any]) -> None:
    if len(json.dumps(dict(settings), default=str)) > LIMITS.engine_settings_bytes:
        raise EngineDefinitionError(f"settings are larger than {LIMITS.engine_settings_bytes} bytes")
    fields = FIELDS[kind]
    for name in settings:
        if name not in fields:
            known = ", ".join(fields) or "none"
            raise EngineDefinitionError(
                f"{name[:64]!r} is not a setting of a {kind.value} engine (settings: {known})"
            )
    for name, (required, pattern) in fields.items():
        value = settings.get(name)
        if value is None:
            if required:
                raise EngineDefinitionError(f"a {kind.value} engine needs the setting {name!r}")
        elif not isinstance(value, str) or not pattern.fullmatch(value):
            raise EngineDefinitionError(f"the setting {name!r} is malformed (expected {pattern.pattern})")


def _check_headers(headers: Mapping[str, str]) -> None:
    if len(headers) > LIMITS.engine_headers:
        raise EngineDefinitionError(f"at most {LIMITS.engine_headers} headers may be given")
    for name, value in headers.items():
        if len(value) > LIMITS.engine_header_chars:
            raise EngineDefinitionError(
                f"the value of header {name[:64]!r} is over {LIMITS.engine_header_chars} characters"
            )
        if name.lower().startswith(RESERVED_PREFIX):
            raise EngineDefinitionError(f"header {name!r} is set by the gateway itself (Standard Webhooks)")
    try:
        check_headers(headers)
    except UpstreamValueError as exc:
        raise EngineDefinitionError(str(exc)) from None


def _check_secret(kind: EngineKind, secret: str | None) -> None:
    if not secret:
        if kind in SECRET_REQUIRED:
            raise EngineDefinitionError(f"a {kind.value} engine needs a secret")
        return
    if kind is EngineKind.WEBHOOK:
        key = secret.removeprefix("whsec_")
        try:
            ok = secret.startswith("whsec_") and len(base64.b64decode(key, validate=True)) >= 24
        except binascii.Error:
            ok = False
        if not ok:
            raise EngineDefinitionError("a webhook engine's secret is whsec_ and at least 24 bytes in base64")
    elif kind is EngineKind.MODEL_ARMOR:
        service_account(secret)
