"""Gateway rules and rule engines: what inspects the traffic of a gateway, and what it does on a match.

Product spec §2 (gateway rules) and §1 (custom rule engines). A rule belongs to one gateway and is
scoped, optionally, to some of its assignments and tool names. It has a detection method (JavaScript
regular expressions and ready-made patterns, Microsoft Presidio, or a rule engine), an action (or,
for an engine, the engine's verdict), a detection hook (request, response or both), an alerts toggle,
its position in the gateway's order and, where detection can fail (Presidio, engines), a failure
mode. Request rules run in order, then response rules in order; ``block`` stops at once; modifying
actions chain, each on the text the previous one produced.

Every limit a surface checks is defined here once (``LIMITS``), so the API, the CLI, the admin MCP
and the declaration refuse the same values with the same words.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Hook(StrEnum):
    """Where a rule looks: the message to the server, the answer from it, or both."""

    REQUEST = "request"
    RESPONSE = "response"
    BOTH = "both"

    def covers(self, direction: Direction) -> bool:
        return self is Hook.BOTH or self.value == direction.value


class Direction(StrEnum):
    """Which way the message a rule looks at goes: to the server (the call's request) or back to the
    client (its response). The engine envelope's ``direction``."""

    REQUEST = "request"
    RESPONSE = "response"


class ActionKind(StrEnum):
    """What a rule does with what it found. ``block`` stops the message; the others
    transform each match and let the message through."""

    BLOCK = "block"
    REDACT = "redact"  # the match is removed
    REPLACE = "replace"  # the match becomes ``Action.replacement`` (Presidio: ``<ENTITY_TYPE>``)
    MASK = "mask"  # all but the last ``Action.visible`` characters become ``Action.mask_char``
    HASH = "hash"  # the match becomes ``Action.hash_prefix`` + hex HMAC-SHA-256 (gateway key), cut


class FailureMode(StrEnum):
    """What a rule does when its detection cannot decide (an engine down, slow, answering garbage):
    let the message through (``fail_open``) or stop it (``fail_closed``). Regex never fails."""

    OPEN = "fail_open"
    CLOSED = "fail_closed"


class EngineKind(StrEnum):
    """A rule engine's provider. ``webhook`` speaks Lockgate's own contract
    (docs/rule-engines.md); the others are adapters that build the provider's request for it."""

    WEBHOOK = "webhook"
    LAKERA = "lakera"  # Lakera Guard /v2/guard
    BEDROCK = "bedrock"  # AWS Bedrock ApplyGuardrail (SigV4)
    MODEL_ARMOR = "model_armor"  # Google Cloud Model Armor sanitize{User,Model}Response
    PROMPT_SHIELDS = "prompt_shields"  # Azure AI Content Safety text:shieldPrompt


TOOLS_CALL = "tools/call"
SCANNABLE_METHODS = ("tools/call", "prompts/get", "resources/read")
"""The methods a rule may inspect: ``tools/call`` always (MCP Manager's scope), ``prompts/get`` and
``resources/read`` results where a rule opts in."""
GOVERNED_AS = {"completion/complete": "prompts/get"}
"""Requests the rules of another method see: completing a prompt's argument sends the server what
``prompts/get`` would (MCP server/utilities/completion), so the rules that opted into prompts see it."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Every bound a rule or engine definition is checked against, on every surface."""

    rules_per_gateway: int = 64
    name_chars: int = 128
    patterns_per_rule: int = 32
    pattern_chars: int = 4096
    presets_per_rule: int = 32
    entities_per_rule: int = 64
    allowlist_entries: int = 256
    allowlist_entry_chars: int = 256
    scoped_names: int = 256  # assignments or tools a rule is limited to
    replacement_chars: int = 256
    hash_chars: tuple[int, int] = (8, 64)  # hex characters of the HMAC kept
    visible_max: int = 16  # characters a mask leaves in clear, at most
    engines: int = 64
    engine_timeout_s: tuple[float, float] = (0.1, 30.0)
    engine_retries: int = 5
    engine_headers: int = 16
    engine_url_chars: int = 2048
    engine_secret_chars: int = 4096
    engine_header_chars: int = 4096
    engine_settings_bytes: int = 16 * 1024
    scan_bytes: int = 4 * 1024 * 1024  # text one message exposes to detection, at most
    scan_strings: int = 10_000  # strings one message exposes to detection, at most
    scan_values: int = 250_000  # JSON values walked to find them, at most (numbers, objects... included)
    matches_per_text: int = 65_536  # matches one pattern reports in one string (and a modifying rule
    # acts on in one message), at most
    scan_s: float = 30.0  # seconds one rule's detection may take over one message, at most
    inspection_s: float = 60.0  # all the rules' inspection of one message, at most: above one engine's
    # longest wait (engine_timeout_s), so one engine that hangs fails by its own failure mode first
    engine_payload_bytes: int = 16 * 1024 * 1024  # an engine request or answer, at most (spec §1.2)
    engine_connections: int = 20  # open to one engine at once, at most (asks beyond wait for one)
    engine_keepalive_connections: int = 5  # idle connections kept per engine
    engine_pools: int = 64  # engines (by id and version) with a connection pool at once


LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class Action:
    """A rule's action and its settings (only those of ``kind`` are used)."""

    kind: ActionKind
    replacement: str | None = None  # replace: None → "[REDACTED]" (regex) or "<ENTITY_TYPE>" (Presidio)
    mask_char: str = "*"
    visible: int = 0  # mask: trailing characters left in clear
    hash_chars: int = 16  # hash: hex characters of the HMAC-SHA-256 kept
    hash_prefix: str = "hash:"


@dataclass(frozen=True, slots=True)
class RegexDetection:
    """JavaScript regular expressions (flags ``i``/``g``, slashes optional; spec §2.2) OR-ed with
    ready-made patterns named from ``rules.presets``. One match of any is a match."""

    patterns: tuple[str, ...] = ()
    presets: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PresidioDetection:
    """Microsoft Presidio's analyzer (spec §2.2): ``entities`` (empty: all supported), findings scored
    under ``threshold`` ignored, ``allowlist`` values never reported."""

    entities: tuple[str, ...] = ()
    threshold: float = 0.2
    allowlist: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EngineDetection:
    """A rule engine decides (by name, one of the workspace's ``RuleEngine``\\s); its verdict is the
    action (spec §1.4)."""

    engine: str


Detection = RegexDetection | PresidioDetection | EngineDetection


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule of a gateway.

    ``assignments`` and ``tools`` limit it (empty: every assignment, every tool; tools by the name
    their server gives them). ``methods`` are among ``SCANNABLE_METHODS`` and always hold
    ``tools/call``. ``action`` is None for an engine rule. ``failure_mode`` is None for a regex rule.
    ``store_original`` opts the rule out of storing transformed bodies in the audit (spec §5: the
    stored bodies are the transformed ones unless a rule opts out).
    """

    id: int
    name: str
    position: int
    detection: Detection
    action: Action | None
    hook: Hook = Hook.REQUEST
    enabled: bool = True
    alerts: bool = False
    failure_mode: FailureMode | None = None
    methods: frozenset[str] = frozenset({TOOLS_CALL})
    assignments: frozenset[str] = frozenset()
    tools: frozenset[str] = frozenset()
    store_original: bool = False
    version: int = 1

    def applies(self, leg: Direction, method: str, assignment: str, tool: str | None) -> bool:
        """Whether this rule looks at ``method`` on ``leg`` to assignment ``assignment`` (its name on
        the gateway), for ``tool`` (the server's name of the tool; None for prompts and resources)."""
        if not self.enabled or not self.hook.covers(leg) or method not in self.methods:
            return False
        if self.assignments and assignment not in self.assignments:
            return False
        return not (self.tools and method == TOOLS_CALL and tool not in self.tools)


@dataclass(frozen=True, slots=True)
class RuleEngine:
    """A rule engine of the workspace (spec §1): where it is, how it authenticates, how long it may take.

    ``secret`` signs webhook requests (Standard Webhooks) or is the provider's API key; it and the
    values of ``headers`` are sealed at rest and never shown again. ``settings`` carries the
    provider's own fields (e.g. Bedrock ``guardrail_id``/``guardrail_version``/``region``, Model Armor
    ``project``/``location``/``template``).
    """

    id: int
    name: str
    kind: EngineKind
    url: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    secret: str | None = field(default=None, repr=False)
    timeout_s: float = 30.0
    retries: int = 2
    version: int = 1

    def destination(self) -> tuple[Any, ...]:
        """Where its secret and header values are sent: its kind, its URL (None: the provider's
        public endpoint) and the settings that choose the endpoint (``DESTINATION_SETTINGS``)."""
        chosen = DESTINATION_SETTINGS.get(self.kind, ())
        return (self.kind, self.url, *(self.settings.get(name) for name in chosen))


DESTINATION_SETTINGS: Mapping[EngineKind, tuple[str, ...]] = {
    EngineKind.BEDROCK: ("region",),  # bedrock-runtime.<region>.amazonaws.com
    EngineKind.MODEL_ARMOR: ("project", "location"),  # modelarmor.<location>...; projects/<project>/...
}
"""Per kind, the settings that decide where the engine is called, besides its URL."""


def carried_secrets(stored: RuleEngine, changed: RuleEngine, given: Collection[str]) -> list[str]:
    """The stored secrets ``changed`` would carry to another destination than ``stored``'s without
    their being given again: ``secret`` when one is stored and ``secret`` is not in ``given``, and
    ``headers.<name>`` for each header of ``changed`` not in ``given``. Empty when the destination
    (``RuleEngine.destination``) is the same. Every surface that changes an engine refuses a change
    for which this is not empty: a secret was given for one destination only."""
    if changed.destination() == stored.destination():
        return []
    secret = ["secret"] if stored.secret and "secret" not in given else []
    return secret + [f"headers.{name}" for name in changed.headers if f"headers.{name}" not in given]


@dataclass(frozen=True, slots=True)
class GatewayRules:
    """What the data plane needs to inspect one gateway's traffic: its rules in order, the engines
    they name, and the gateway's key for ``hash``."""

    gateway_id: int
    rules: tuple[Rule, ...] = ()
    engines: Mapping[str, RuleEngine] = field(default_factory=dict)
    hash_key: bytes = field(default=b"", repr=False)


NO_RULES = GatewayRules(0)


class VerdictKind(StrEnum):
    """An engine's answer."""

    PASS = "pass"
    BLOCK = "block"
    MODIFY = "modify"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Verdict:
    """``reason`` for block and error; ``body`` (the complete replacement JSON-RPC message) for modify."""

    kind: VerdictKind
    reason: str | None = None
    body: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class EngineRequest:
    """What the gateway asks an engine about one message (docs/rule-engines.md, the envelope's
    ``metadata`` and ``body``). ``body`` is the whole JSON-RPC message: the ``tools/call`` request on
    the request leg, its response (with the request's ``id``) on the response leg. ``time`` is Unix
    seconds; the envelope carries it as RFC 3339. ``test`` marks the built-in Test operation's sample
    (docs/rule-engines.md, "The Test operation")."""

    rule_id: int
    rule: str
    engine_id: int
    engine: str
    user_id: int | None
    user_email: str | None
    host: str | None
    gateway_id: int | None
    gateway: str | None
    server: str | None  # the assignment's name on the gateway
    tool: str | None  # the feature's name as its server knows it (tool, prompt or resource URI)
    method: str
    direction: Direction
    correlation_id: str
    time: float
    body: Mapping[str, Any]
    test: bool = False


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """What one rule did on one leg: recorded in the audit (never the matched text, spec §5)."""

    rule_id: int
    rule: str
    action: str  # an ActionKind value; for engines "block"/"modify"; "failed_open"/"failed_closed"
    matches: int
    reason: str | None = None  # why a rule could not decide (failed_*), in the gateway's words

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.rule_id,
            "rule": self.rule,
            "action": self.action,
            "matches": self.matches,
        }
        if self.reason is not None:
            out["reason"] = self.reason
        return out
