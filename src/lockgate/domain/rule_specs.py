"""Rules and rule engines as people write them: the JSON API's bodies, the declaration's entries and
``lockgate rules test``'s rule files share these shapes (issue 12 §6).

A spec only types its fields; what a rule's values may be (bounds, patterns that can run, presets
and entities that exist, actions that fit the detection) is judged once, over the ``Rule`` a spec
makes, by ``rules.validation.check_rule``, on every surface. An engine or Presidio rule without a
failure mode fails closed.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lockgate.domain.rules import (
    LIMITS,
    TOOLS_CALL,
    Action,
    ActionKind,
    Detection,
    EngineDetection,
    EngineKind,
    FailureMode,
    Hook,
    PresidioDetection,
    RegexDetection,
    Rule,
    RuleEngine,
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegexSpec(_Strict):
    """JavaScript regular expressions (``/ssn-\\d+/i`` or bare) OR-ed with ready-made patterns."""

    method: Literal["regex"]
    patterns: list[str] = []
    presets: list[str] = Field([], description="Ready-made patterns by name (docs/rules.md).")


class PresidioSpec(_Strict):
    """Microsoft Presidio, offline: the entities to find (empty: every one available)."""

    method: Literal["presidio"]
    entities: list[str] = []
    threshold: float = Field(0.2, description="Findings scored under it are ignored (0 to 1).")
    allowlist: list[str] = Field([], description="Values never reported.")


class EngineSpec(_Strict):
    """A rule engine of the workspace decides; its verdict is the action."""

    method: Literal["engine"]
    engine: str = Field(description="The rule engine's name.")


DetectionSpec = Annotated[RegexSpec | PresidioSpec | EngineSpec, Field(discriminator="method")]


class ActionSpec(_Strict):
    """What a rule does with a match; a bare kind (``"redact"``) stands for its defaults."""

    kind: ActionKind
    replacement: str | None = Field(
        None, description='replace: the text written instead (default "[REDACTED]"; Presidio: <ENTITY>).'
    )
    mask_char: str = Field("*", description="mask: the character written over the match.")
    visible: int = Field(0, description="mask: trailing characters left in clear.")
    hash_chars: int = Field(16, description="hash: hex characters of the HMAC-SHA-256 kept.")
    hash_prefix: str = Field("hash:", description="hash: written before the hex digits.")

    @model_validator(mode="before")
    @classmethod
    def _bare_kind(cls, data: Any) -> Any:
        return {"kind": data} if isinstance(data, str) else data

    def to_action(self) -> Action:
        return Action(
            self.kind, self.replacement, self.mask_char, self.visible, self.hash_chars, self.hash_prefix
        )

    @classmethod
    def of(cls, action: Action) -> ActionSpec:
        return cls(
            kind=action.kind,
            replacement=action.replacement,
            mask_char=action.mask_char,
            visible=action.visible,
            hash_chars=action.hash_chars,
            hash_prefix=action.hash_prefix,
        )


class RuleSpec(_Strict):
    """One rule of a gateway. ``methods`` always hold ``tools/call``; ``assignments`` and ``tools``
    limit the rule (empty: every one). ``failure_mode`` is for Presidio and engine rules only
    (default ``fail_closed``); ``action`` is for regex and Presidio rules only."""

    name: str = Field(description="Unique on the gateway.")
    hook: Hook = Hook.REQUEST
    enabled: bool = True
    detection: DetectionSpec
    action: ActionSpec | None = None
    alerts: bool = Field(False, description="Raise an alert each time the rule acts.")
    failure_mode: FailureMode | None = None
    methods: list[str] = [TOOLS_CALL]
    assignments: list[str] = []
    tools: list[str] = []
    store_original: bool = Field(
        False, description="Store the original bodies in the audit rather than the transformed ones."
    )

    @model_validator(mode="before")
    @classmethod
    def _fails_closed(cls, data: Any) -> Any:
        """A Presidio or engine rule without a failure mode fails closed: one spelling of the
        default, so a declaration that leaves it out plans no change against the stored rule."""
        if not isinstance(data, dict) or data.get("failure_mode") is not None:
            return data
        detection = data.get("detection")
        method = (
            detection.get("method") if isinstance(detection, dict) else getattr(detection, "method", None)
        )
        if method in ("presidio", "engine"):
            return {**data, "failure_mode": FailureMode.CLOSED}
        return data

    def to_rule(self, rule_id: int = 0, position: int = 0, version: int = 1) -> Rule:
        """The rule this spec declares."""
        return Rule(
            id=rule_id,
            name=self.name,
            position=position,
            detection=to_detection(self.detection),
            action=self.action.to_action() if self.action is not None else None,
            hook=self.hook,
            enabled=self.enabled,
            alerts=self.alerts,
            failure_mode=self.failure_mode,
            methods=frozenset(self.methods),
            assignments=frozenset(self.assignments),
            tools=frozenset(self.tools),
            store_original=self.store_original,
            version=version,
        )

    @classmethod
    def of(cls, rule: Rule) -> RuleSpec:
        """The spec of a stored rule (its lists sorted)."""
        return cls(
            name=rule.name,
            hook=rule.hook,
            enabled=rule.enabled,
            detection=of_detection(rule.detection),
            action=ActionSpec.of(rule.action) if rule.action is not None else None,
            alerts=rule.alerts,
            failure_mode=rule.failure_mode,
            methods=sorted(rule.methods),
            assignments=sorted(rule.assignments),
            tools=sorted(rule.tools),
            store_original=rule.store_original,
        )


def to_detection(spec: RegexSpec | PresidioSpec | EngineSpec) -> Detection:
    if isinstance(spec, RegexSpec):
        return RegexDetection(tuple(spec.patterns), tuple(spec.presets))
    if isinstance(spec, PresidioSpec):
        return PresidioDetection(tuple(spec.entities), spec.threshold, tuple(spec.allowlist))
    return EngineDetection(spec.engine)


def of_detection(detection: Detection) -> RegexSpec | PresidioSpec | EngineSpec:
    if isinstance(detection, RegexDetection):
        return RegexSpec(method="regex", patterns=list(detection.patterns), presets=list(detection.presets))
    if isinstance(detection, PresidioDetection):
        return PresidioSpec(
            method="presidio",
            entities=list(detection.entities),
            threshold=detection.threshold,
            allowlist=list(detection.allowlist),
        )
    return EngineSpec(method="engine", engine=detection.engine)


class RuleEngineSpec(_Strict):
    """A rule engine of the workspace. ``secret`` (a webhook's ``whsec_...`` signing secret, or the
    provider's key) and the values of ``headers`` are write-only: sealed at rest, never shown or
    exported. In a declaration, None for either keeps what is stored."""

    name: str
    kind: EngineKind = EngineKind.WEBHOOK
    url: str | None = Field(
        None,
        max_length=LIMITS.engine_url_chars,
        description="https; a managed provider's default when left out.",
    )
    settings: dict[str, Any] = Field({}, description="The provider's own fields (docs/rule-engines.md).")
    headers: dict[str, str | None] = Field({}, description="Sent with every request; values are secret.")
    secret: str | None = Field(None, max_length=LIMITS.engine_secret_chars, description="Write-only.")
    timeout_s: float = Field(30.0, description="The whole call, retries included, at most (seconds).")
    retries: int = Field(2, description="Retries of a connection failure, 429, 502, 503 or 504.")

    def to_engine(self, engine_id: int = 0) -> RuleEngine:
        """The engine this spec declares (its secrets resolved: a None header value is empty)."""
        headers = {k: v or "" for k, v in self.headers.items()}
        return RuleEngine(
            engine_id,
            self.name,
            self.kind,
            self.url,
            self.settings,
            headers,
            self.secret,
            self.timeout_s,
            self.retries,
        )
