"""The composition root: builds the ASGI app from settings. The whole app on one screen."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import orjson
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from lockgate.api.admin_mcp import PATH as ADMIN_MCP_PATH
from lockgate.api.admin_mcp import AdminMcpEndpoint
from lockgate.api.http import PREFIX as API_PREFIX
from lockgate.api.http import ControlPlaneApi
from lockgate.api.openapi import build_openapi
from lockgate.api.operation import Context, EngineTesting
from lockgate.api.table import OPERATIONS
from lockgate.audit.recorder import AuditRecorder, AuditState
from lockgate.audit.spill import SPILL_FILE, load_spilled, spill_entries
from lockgate.brokering.authorization import Broker
from lockgate.brokering.refresh import OAuthRefresher
from lockgate.dataplane.aggregation import Aggregator
from lockgate.dataplane.alerts import AlertWriter, save_alerts
from lockgate.dataplane.catalog import Catalog
from lockgate.dataplane.connector import Connector
from lockgate.dataplane.credentials import CredentialRefresher
from lockgate.dataplane.endpoint import McpEndpoint
from lockgate.dataplane.enforcement import EnforceProvisioning
from lockgate.dataplane.forwarding import Forwarder
from lockgate.dataplane.guard import HostOriginGuard
from lockgate.dataplane.hub import Hub
from lockgate.dataplane.inspection import AskEngine, Finder, Inspector, InspectRequest, InspectResponse
from lockgate.dataplane.listening import Listening
from lockgate.dataplane.pipeline import Pipeline
from lockgate.dataplane.provisioning import Governance
from lockgate.dataplane.rulebook import RuleBook
from lockgate.dataplane.sessions import SessionRegistry
from lockgate.dataplane.steps import MirrorParamHeaders, ResolveAccess
from lockgate.dataplane.watch import ProvisioningWatch
from lockgate.domain.actor import Actor
from lockgate.domain.audit import AuditEntry
from lockgate.domain.model import Credential, Server
from lockgate.domain.rules import GatewayRules
from lockgate.egress import guarded_client, parse_networks
from lockgate.engines import Engines
from lockgate.rules.presidio import offline_analyzer
from lockgate.settings import Settings
from lockgate.store.access import AccessReader
from lockgate.store.audit_log import save_entries
from lockgate.store.engine import open_engine, upgrade
from lockgate.store.reviews import ReviewWriter
from lockgate.store.rules import load_gateway_rules
from lockgate.upstream.pool import UpstreamFactory, UpstreamPool
from lockgate.upstream.preview import Preview, preview_features
from lockgate.vault import Vault
from lockgate.web import build_web
from lockgate.webhooks.delivery import WebhookDeliverer

log = logging.getLogger("lockgate")


@dataclass(slots=True)
class Gateway:
    """The running parts, reachable from tests as ``app.state.lockgate``."""

    engine: Engine
    pool: UpstreamPool
    recorder: AuditRecorder
    sessions: SessionRegistry
    forwarder: Forwarder
    hub: Hub
    webhooks: WebhookDeliverer
    reviews: ReviewWriter
    alerts: AlertWriter


def build_app(
    settings: Settings,
    engine: Engine | None = None,
    upstream_factory: UpstreamFactory | None = None,
    ask: AskEngine | None = None,
) -> DataPlaneFirst:
    """The Lockgate ASGI app: ``/mcp/{gateway}`` (the data plane), ``/api/v1`` (the control plane),
    the web pages (``/signin``, ``/connect/...``, ``/oauth/...``) and ``/healthz``. Servers are reached
    through ``upstream_factory`` when given (tests: ``upstream/memory.py``), else their real transport;
    gateway rules ask rule engines through ``ask`` when given (tests), else through one ``Engines``
    client the control plane's Test shares."""
    engine = engine or open_engine(settings.resolved_database_url)
    key = settings.key_bytes()
    vault = settings.vault()
    outbound = guarded_client(settings.egress_allowed_networks, timeout=settings.upstream_timeout)
    guard = HostOriginGuard(*settings.guard_patterns())
    credentials = CredentialRefresher(OAuthRefresher(engine, vault, outbound))
    engines = Engines(settings.egress_allowed_networks)
    data = build_data_plane(
        settings, engine, key, vault, credentials, guard, upstream_factory, ask or engines.ask
    )
    webhooks = WebhookDeliverer(engine, vault, allowed_networks=settings.egress_allowed_networks)
    gateway = Gateway(
        engine,
        data.pool,
        data.recorder,
        data.sessions,
        data.forwarder,
        data.hub,
        webhooks,
        data.reviews,
        data.inspector.alerts,
    )
    api, admin_mcp = build_control_plane(settings, engine, key, vault, data.pool, credentials, guard, engines)

    spill = settings.data_dir / SPILL_FILE

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        upgrade(engine, vault)
        if settings.presidio_model is not None:  # a model that does not load stops the start, by name
            await asyncio.to_thread(offline_analyzer, settings.presidio_model)
        data.recorder.resume(load_spilled(spill))
        await data.pool.start()
        data.recorder.start()
        data.inspector.alerts.start()
        await data.watch.start()
        webhooks.start()
        try:
            async with admin_mcp.run():
                yield
        finally:
            data.sessions.close_all()
            await data.watch.close()
            await data.listening.close()
            await webhooks.close()
            await data.pool.close()
            await outbound.aclose()
            await engines.aclose()
            _keep_audit(spill, await data.recorder.close(settings.audit_shutdown_deadline), settings)
            data.access.close()
            data.reviews.close()
            data.inspector.rulebook.close()
            data.inspector.find.close()
            data.inspector.alerts.close()
            log.info("audit: %s", data.recorder.stats)

    async def healthz(_request: Request) -> JSONResponse:
        """200 while the audit is written; 503 naming its state while it is not."""
        audit = _audit_health(data.recorder)
        ok = audit["state"] == AuditState.OK
        return JSONResponse({"status": "ok" if ok else "degraded", "audit": audit}, 200 if ok else 503)

    broker = Broker(engine, vault, key, settings.resolved_public_url, outbound)
    web = build_web(engine, key, vault, broker, guard.check, webhooks.wake)
    rest = Starlette(routes=[Route("/healthz", healthz), Mount("/", web)], lifespan=lifespan)
    rest.state.lockgate = gateway
    return DataPlaneFirst(data.endpoint, api, admin_mcp, rest)


@dataclass(slots=True)
class DataPlane:
    """The MCP endpoint and the parts behind it that the app starts and stops."""

    endpoint: McpEndpoint
    access: AccessReader
    pool: UpstreamPool
    recorder: AuditRecorder
    sessions: SessionRegistry
    forwarder: Forwarder
    hub: Hub
    listening: Listening
    reviews: ReviewWriter
    watch: ProvisioningWatch
    inspector: Inspector


def build_data_plane(
    settings: Settings,
    engine: Engine,
    key: bytes,
    vault: Vault,
    credentials: CredentialRefresher,
    guard: HostOriginGuard,
    upstream_factory: UpstreamFactory | None = None,
    ask: AskEngine | None = None,
) -> DataPlane:
    """The endpoint ``/mcp/{gateway}``, built in dependency order: the feature catalog, the hub
    (which tells it of list changes, and is told of definitions changed unannounced), the upstream
    pool reporting to the hub, the connector (OAuth refresh through ``credentials``), the governance
    of features (reviews written off the loop), the gateway rules (read off the loop, engines asked
    through ``ask``, alerts written off the loop), what listening streams need upstream, the
    pipeline's steps in order, the forwarder, the lists and the watch of provisioning changes."""
    sessions = SessionRegistry(
        settings.max_sessions, settings.max_sessions_per_connection, settings.session_idle_timeout
    )
    catalog = Catalog(
        on_changed=lambda server, identity, kind: hub.on_catalog_changed(server, identity, kind)
    )
    hub = Hub(sessions, catalog)
    pool = UpstreamPool(
        hub.on_server_notification,
        parse_networks(settings.server_allowed_networks),
        settings.max_response_bytes,
        upstream_factory,
    )
    connector = Connector(
        pool,
        timeout=settings.upstream_timeout,
        connect_timeout=settings.upstream_connect_timeout,
        credentials=credentials,
    )
    reviews = ReviewWriter(engine)
    governance = Governance(catalog, reviews)

    def load_rules(gateway_id: int) -> GatewayRules:
        with engine.connect() as conn:
            return load_gateway_rules(conn, vault, gateway_id)

    rulebook = RuleBook(load_rules, presidio_model=settings.presidio_model)
    alerts = AlertWriter(functools.partial(save_alerts, engine))
    inspector = Inspector(rulebook, Finder(), alerts, ask)
    pipeline = Pipeline(
        requests=[
            ResolveAccess(settings.resolved_public_url),
            EnforceProvisioning(catalog, connector.list_features, governance),
            MirrorParamHeaders(catalog, connector.list_features),
            InspectRequest(inspector),
        ],
        responses=[InspectResponse(inspector)],
    )
    forwarder = Forwarder(connector, catalog, pipeline, public_url=settings.resolved_public_url)
    cursor_key = hashlib.sha256(b"lockgate-cursor:" + key).digest()
    aggregator = Aggregator(forwarder.forward, catalog, governance, cursor_key)
    listening = Listening(hub, connector)
    access = AccessReader(engine, vault)
    recorder = build_recorder(settings, engine)
    endpoint = McpEndpoint(
        load_access=access.load,
        token_key=key,
        pipeline=pipeline,
        forwarder=forwarder,
        aggregator=aggregator,
        recorder=recorder,
        sessions=sessions,
        hub=hub,
        listening=listening,
        guard=guard,
        max_body_bytes=settings.max_body_bytes,
    )
    watch = ProvisioningWatch(engine, hub.on_provisioning_changed)
    return DataPlane(
        endpoint, access, pool, recorder, sessions, forwarder, hub, listening, reviews, watch, inspector
    )


def build_recorder(settings: Settings, engine: Engine) -> AuditRecorder:
    """The audit recorder, writing its legs to ``engine`` in batches."""
    return AuditRecorder(
        lambda entries: save_entries(engine, entries),
        batch_size=settings.audit_batch_size,
        max_pending=settings.audit_max_pending,
        flush_interval=settings.audit_flush_interval,
        max_body_bytes=settings.audit_max_body_bytes,
    )


def build_control_plane(
    settings: Settings,
    engine: Engine,
    key: bytes,
    vault: Vault,
    pool: UpstreamPool,
    credentials: CredentialRefresher,
    guard: HostOriginGuard,
    engines: EngineTesting | None = None,
) -> tuple[ControlPlaneApi, AdminMcpEndpoint]:
    """The operation table served as the JSON API (``/api/v1``) and as MCP tools (``/api/v1/mcp``),
    both building each call's Context the same way. The features preview runs as an identity through
    the data plane's refresher, so an OAuth token due is refreshed once for both; ``engines`` runs
    rule engines' Test (None: ``engines test`` answers 503)."""

    async def preview(server: Server, credential: Credential | None) -> Preview:
        fresh = None if credential is None else await credentials.fresh(credential)
        return await preview_features(
            pool,
            server,
            fresh,
            list_timeout=settings.upstream_timeout,
            connect_timeout=settings.upstream_connect_timeout,
        )

    server_networks = parse_networks(settings.server_allowed_networks)
    egress_networks = parse_networks(settings.egress_allowed_networks)

    def make_context(actor: Actor, correlation_id: str) -> Context:
        public_url = settings.resolved_public_url
        return Context(
            engine,
            actor,
            correlation_id,
            key,
            vault,
            preview=preview,
            public_url=public_url,
            server_networks=server_networks,
            egress_networks=egress_networks,
            ner_model=settings.presidio_model is not None,
            engines=engines,
        )

    openapi = functools.cache(lambda: orjson.dumps(build_openapi(OPERATIONS)))
    api = ControlPlaneApi(
        OPERATIONS, engine, key, make_context, settings.max_body_bytes, {"openapi.json": openapi}, guard.check
    )
    admin_mcp = AdminMcpEndpoint(OPERATIONS, engine, key, make_context, settings.max_body_bytes, guard.check)
    return api, admin_mcp


class DataPlaneFirst:
    """Sends ``/mcp/{gateway}`` straight to the MCP endpoint, ``/api/v1/mcp`` to the admin MCP
    endpoint, ``/api/v1/...`` to the control plane and everything else (``/healthz``, the lifespan)
    to the Starlette app: the hot path skips two middlewares and the route table, which showed in the
    benchmark's profile."""

    def __init__(
        self, endpoint: McpEndpoint, api: ControlPlaneApi, admin_mcp: AdminMcpEndpoint, rest: Starlette
    ) -> None:
        self.endpoint = endpoint
        self.api = api
        self.admin_mcp = admin_mcp
        self.rest = rest
        self.state = rest.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            gateway = path[5:].rstrip("/") if path.startswith("/mcp/") else ""
            if path == "/mcp":  # the query form, /mcp?gateway=NAME (product spec §5.5)
                gateway = parse_qs(scope["query_string"].decode("latin-1")).get("gateway", [""])[0]
            if gateway and "/" not in gateway:
                scope["path_params"] = {"gateway": gateway}
                await self.endpoint(scope, receive, send)
                return
            if path == ADMIN_MCP_PATH:
                await self.admin_mcp(scope, receive, send)
                return
            if path.startswith(API_PREFIX + "/") or path == API_PREFIX:
                await self.api(scope, receive, send)
                return
        await self.rest(scope, receive, send)


def _audit_health(recorder: AuditRecorder) -> dict[str, Any]:
    s = recorder.stats
    return {
        "state": recorder.state.value,
        "backlog": recorder.backlog,
        "recorded": s.recorded,
        "written": s.written,
        "degraded": s.degraded,
        "write_failures": s.write_failures,
        "backpressure_waits": s.backpressure_waits,
        "refused": s.refused,
    }


def _keep_audit(spill: Path, unwritten: list[AuditEntry], settings: Settings) -> None:
    """Keep the legs the store would not take at shutdown in the spill file (``audit.spill``)."""
    if not unwritten:
        return
    try:
        settings.ensure_data_dir()
        spill_entries(spill, unwritten)
    except OSError:
        log.exception("audit: %d legs could not be written nor kept; they are lost", len(unwritten))
        return
    log.error("audit: the store is failing; %d legs kept in %s until the next start", len(unwritten), spill)
