"""Rule engines (issue 12 §3; product spec §1): list, show, create, change, delete, and the built-in
Test, which asks the engine about a sample ``tools/call`` and shows its verdict.

Every operation needs "Manage integrations". An engine's ``secret`` and header values are
write-only: sealed at rest, never answered, never in an admin event (views show ``has_secret`` and
the header names). Its URL is checked on every surface by ``require_valid_engine`` (the
declaration's check too): https, and never a literal private, loopback or link-local address
(nor ``localhost``) unless inside the operator's ``LOCKGATE_EGRESS_ALLOWED_NETWORKS`` — where http is
allowed too. A host name is judged again by the egress guard each time a connection resolves it.
An engine rules name cannot be deleted or renamed (409 naming the rules).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread
import orjson
from pydantic import BaseModel, Field
from sqlalchemy import Connection, Row, func, select

from lockgate.api.errors import ApiError, ServiceUnavailable, UnprocessableContent
from lockgate.api.operation import Context, Input, NoInput, Operation, Versioned
from lockgate.api.operations.common import Name, Page
from lockgate.domain.capabilities import Capability
from lockgate.domain.rules import LIMITS, EngineKind, RuleEngine, carried_secrets
from lockgate.domain.upstream_values import UpstreamValueError, check_headers
from lockgate.egress import resolve_url_refusal
from lockgate.engines.settings import EngineDefinitionError, check
from lockgate.store.errors import ConflictError
from lockgate.store.gateway_rules import engine_users, require_unused_to_move
from lockgate.store.records import delete_row, fetch_named
from lockgate.store.rules import load_engine, save_engine
from lockgate.store.schema import rule_engines


class EngineView(BaseModel):
    """A rule engine; never its secret or header values."""

    name: str
    kind: EngineKind
    url: str | None
    settings: dict[str, Any]
    header_names: list[str] = Field(description="The headers sent with each request (values are secret).")
    has_secret: bool = Field(description="A signing secret or provider key is stored (never shown).")
    timeout_s: float
    retries: int
    used_by: list[str] = Field(description="The rules naming it, as <gateway>/<rule>.")
    version: int = Field(description="Bumped by every change; send it back as If-Match.")


class EngineTestView(BaseModel):
    """What the engine answered a sample ``tools/call`` request marked as a test."""

    engine: str
    ok: bool = Field(description="It answered a valid verdict in time.")
    verdict: str | None = Field(description="pass, block or modify (null when it failed).")
    reason: str | None = Field(description="Why it blocked, or why it failed.")
    duration_ms: float


class EngineRef(Input):
    engine: Name


class EngineCreate(Input):
    name: Name
    kind: EngineKind = Field(EngineKind.WEBHOOK, description="webhook, lakera, bedrock, model_armor, ...")
    url: str | None = Field(
        None, max_length=LIMITS.engine_url_chars, description="https (a managed provider's default)."
    )
    settings: dict[str, Any] = Field({}, description="The provider's own fields (docs/rule-engines.md).")
    headers: dict[str, str] = Field({}, description="Sent with every request; write-only values.")
    secret: str | None = Field(
        None, max_length=LIMITS.engine_secret_chars, description="Signing secret or API key; write-only."
    )
    timeout_s: float = Field(30.0, description="The whole call, retries included, at most (seconds).")
    retries: int = Field(2, description="Retries of connection failures, 429, 502, 503, 504.")


class EngineUpdate(Versioned):
    engine: Name
    name: Name | None = Field(None, description="A new name (not while rules name it).")
    url: str | None = Field(None, max_length=LIMITS.engine_url_chars)
    settings: dict[str, Any] | None = Field(None, description="Replaces the settings whole.")
    headers: dict[str, str | None] | None = Field(
        None, description="Replaces the headers; a null value keeps the stored value of that header."
    )
    secret: str | None = Field(
        None, max_length=LIMITS.engine_secret_chars, description='A new secret; "" removes it.'
    )
    timeout_s: float | None = None
    retries: int | None = None


class EngineChange(Versioned):
    engine: Name


def require_valid_engine(ctx: Context, engine: RuleEngine, where: str = "") -> None:
    """Raises UnprocessableContent, naming the field (prefixed with ``where``), unless ``engine``
    can be saved: its URL (see the module), headers that are valid HTTP fields, a timeout and retries
    within ``LIMITS``, and what its kind needs (``engines.settings.check``: settings, secret)."""

    def refuse(field: str, message: str) -> ApiError:
        return UnprocessableContent(f"{where}{field}: {message}", field=f"{where}{field}")

    if engine.url is not None:
        problem = _url_problem(ctx, engine.url)
        if problem is not None:
            raise refuse("url", problem)
    if len(orjson.dumps(dict(engine.settings))) > LIMITS.engine_settings_bytes:
        raise refuse("settings", f"at most {LIMITS.engine_settings_bytes} bytes as JSON")
    if len(engine.headers) > LIMITS.engine_headers:
        raise refuse("headers", f"at most {LIMITS.engine_headers}")
    try:
        check_headers(engine.headers)
    except UpstreamValueError as exc:
        raise refuse("headers", str(exc)) from None
    if any(len(value) > LIMITS.engine_header_chars for value in engine.headers.values()):
        raise refuse("headers", f"a value is at most {LIMITS.engine_header_chars} characters")
    low, high = LIMITS.engine_timeout_s
    if not low <= engine.timeout_s <= high:
        raise refuse("timeout_s", f"from {low} to {high} seconds")
    if not 0 <= engine.retries <= LIMITS.engine_retries:
        raise refuse("retries", f"from 0 to {LIMITS.engine_retries}")
    try:
        check(engine)  # what the kind needs: its settings and secret
    except EngineDefinitionError as exc:
        named = next((f for f in ("secret", "url") if f in str(exc)), "settings")
        raise refuse(named, str(exc)) from None


def require_secrets_given(stored: RuleEngine, changed: RuleEngine, given: set[str], where: str = "") -> None:
    """Raises UnprocessableContent, naming the fields (prefixed with ``where``), when ``changed``
    sends requests elsewhere than ``stored`` (its URL, kind, Bedrock region, Model Armor project or
    location) but would carry stored secret or header values not in ``given`` there
    (``carried_secrets``): they were given for the old destination only."""
    carried = carried_secrets(stored, changed, given)
    if carried:
        fields = ", ".join(f"{where}{name}" for name in carried)
        raise UnprocessableContent(
            f"the rule engine's destination changes, so its stored secrets do not follow: give "
            f"{fields} again in the same change (or remove them)",
            field=f"{where}{carried[0]}",
        )


def _url_problem(ctx: Context, url: str) -> str | None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError as exc:
        return f"not a URL: {exc}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "an absolute https URL"
    if parts.username is not None or parts.password is not None or parts.fragment:
        return "a rule engine URL holds no user name, password or fragment"
    reason = resolve_url_refusal(url, ctx.egress_networks)
    if reason is not None:
        return (
            f"a {reason} address, outside the networks rule engines may reach "
            "(LOCKGATE_EGRESS_ALLOWED_NETWORKS)"
        )
    if parts.scheme != "https" and not _allowed_literal(ctx, parts.hostname):
        return "a rule engine URL must use https (http only inside LOCKGATE_EGRESS_ALLOWED_NETWORKS)"
    return None


def _allowed_literal(ctx: Context, host: str) -> bool:
    """Whether ``host`` is an address (or ``localhost``) inside the operator's allowed networks."""
    if not ctx.egress_networks:
        return False
    return resolve_url_refusal(f"http://{host}/", ()) is not None  # not public, yet not refused above


def _view(ctx: Context, conn: Connection, row: Row[Any]) -> EngineView:
    return EngineView(
        name=row.name,
        kind=row.kind,
        url=row.url,
        settings=row.settings or {},
        header_names=list(row.header_names or []),
        has_secret=row.secrets is not None and load_engine(row, ctx.vault).secret is not None,
        timeout_s=row.timeout_s,
        retries=row.retries,
        used_by=engine_users(conn, row.name),
        version=row.version,
    )


def list_engines(ctx: Context, _args: NoInput) -> Page[EngineView]:
    """The workspace's rule engines by name, each with the rules naming it."""
    with ctx.transaction() as conn:
        rows = conn.execute(select(rule_engines).order_by(rule_engines.c.name)).all()
        return Page[EngineView](items=[_view(ctx, conn, r) for r in rows], next_cursor=None)


def get_engine(ctx: Context, args: EngineRef) -> EngineView:
    with ctx.transaction() as conn:
        return _view(ctx, conn, fetch_named(conn, rule_engines, args.engine, "rule engine"))


def create_engine(ctx: Context, args: EngineCreate) -> EngineView:
    """Add a rule engine; rules then name it. Its secret and header values are never shown again."""
    engine = RuleEngine(
        0,
        args.name,
        args.kind,
        args.url,
        args.settings,
        args.headers,
        args.secret,
        args.timeout_s,
        args.retries,
    )
    require_valid_engine(ctx, engine)
    with ctx.transaction() as conn:
        if conn.execute(select(func.count()).select_from(rule_engines)).scalar_one() >= LIMITS.engines:
            raise UnprocessableContent(f"a workspace holds at most {LIMITS.engines} rule engines")
        after = _view(ctx, conn, save_engine(conn, ctx.vault, engine, None))
        ctx.record(conn, "rule_engine", args.name, None, after.model_dump(mode="json"))
    return after


def update_engine(ctx: Context, args: EngineUpdate) -> EngineView:
    """Change some of an engine's fields; those left out keep their value (its secret and headers
    too). A change of where it is called (its url, a Bedrock region, a Model Armor project or
    location) must give the secret and every header value again, or remove them: else 422, naming
    them; and is refused (409, naming them) while rules name it: whoever manages integrations may not
    send the traffic of gateways they may not use somewhere else. Rules naming it use any other change
    from their next message on."""
    given = args.model_fields_set
    with ctx.transaction() as conn:
        row = fetch_named(conn, rule_engines, args.engine, "rule engine")
        stored = load_engine(row, ctx.vault)
        before = _view(ctx, conn, row)
        if args.name is not None and args.name != row.name and before.used_by:
            raise ConflictError(f"rule engine {row.name!r} is named by rules {', '.join(before.used_by)}")
        headers = dict(stored.headers)
        if args.headers is not None:
            headers = {k: v if v is not None else stored.headers.get(k, "") for k, v in args.headers.items()}
            missing = [k for k, v in args.headers.items() if v is None and k not in stored.headers]
            if missing:
                raise UnprocessableContent(f"headers.{missing[0]}: no value is stored", field="headers")
        engine = RuleEngine(
            row.id,
            args.name or row.name,
            stored.kind,
            args.url if "url" in given else stored.url,
            args.settings if args.settings is not None else stored.settings,
            headers,
            (args.secret or None) if "secret" in given else stored.secret,
            args.timeout_s if args.timeout_s is not None else stored.timeout_s,
            args.retries if args.retries is not None else stored.retries,
        )
        require_valid_engine(ctx, engine)
        require_unused_to_move(conn, stored, engine)
        sent = {f"headers.{k}" for k, v in (args.headers or {}).items() if v is not None}
        require_secrets_given(stored, engine, sent | ({"secret"} & given))
        after = _view(ctx, conn, save_engine(conn, ctx.vault, engine, row, args.if_match))
        ctx.record(
            conn, "rule_engine", after.name, before.model_dump(mode="json"), after.model_dump(mode="json")
        )
    return after


def delete_engine(ctx: Context, args: EngineChange) -> None:
    """Delete a rule engine. Refused (409, naming them) while rules name it."""
    with ctx.transaction() as conn:
        row = fetch_named(conn, rule_engines, args.engine, "rule engine")
        before = _view(ctx, conn, row)
        if before.used_by:
            raise ConflictError(f"rule engine {row.name!r} is named by rules {', '.join(before.used_by)}")
        delete_row(conn, rule_engines, row, "rule engine", args.if_match)
        ctx.record(conn, "rule_engine", row.name, before.model_dump(mode="json"), None)


async def test_engine(ctx: Context, args: EngineRef) -> EngineTestView:
    """Ask the engine about a sample tools/call request, marked as a test, and show its verdict or
    why it failed, with how long it took. Changes nothing."""

    def load() -> RuleEngine:
        with ctx.transaction() as conn:
            return load_engine(fetch_named(conn, rule_engines, args.engine, "rule engine"), ctx.vault)

    engine = await anyio.to_thread.run_sync(load)
    if ctx.engines is None:
        raise ServiceUnavailable("rule engines cannot be reached from here; run the test with --url")
    result = await ctx.engines.test(engine)
    verdict = result.verdict
    return EngineTestView(
        engine=engine.name,
        ok=verdict is not None,
        verdict=None if verdict is None else verdict.kind.value,
        reason=result.failure if verdict is None else verdict.reason,
        duration_ms=float(result.duration_ms),
    )


_E = "/engines/{engine}"
_MANAGE = Capability.MANAGE_INTEGRATIONS
OPERATIONS = [
    Operation("engines", "list", "GET", "/engines", "List rule engines", _MANAGE, list_engines, NoInput,
              Page[EngineView], columns=("name", "kind", "url", "version")),
    Operation("engines", "get", "GET", _E, "Get a rule engine", _MANAGE, get_engine, EngineRef, EngineView),
    Operation("engines", "create", "POST", "/engines", "Add a rule engine", _MANAGE, create_engine,
              EngineCreate, EngineView, status=201),
    Operation("engines", "update", "PATCH", _E, "Change a rule engine", _MANAGE, update_engine, EngineUpdate,
              EngineView),
    Operation("engines", "delete", "DELETE", _E, "Delete a rule engine", _MANAGE, delete_engine, EngineChange,
              None, status=204),
    Operation("engines", "test", "POST", _E + "/test", "Test a rule engine", _MANAGE, test_engine, EngineRef,
              EngineTestView),
]  # fmt: skip
