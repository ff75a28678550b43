"""The connection flow behind a host's shareable connection link (product spec §5.3, seed 004): a
signed-in user adds a connection, picks a gateway their teams grant, brings an identity for each
per-user server on it (picks one, pastes a header, or signs in with OAuth), and on "Allow" gets an
API token for host × gateway × themselves, shown once (and queued for the host's webhook).

Paths, under ``/connect/{link}`` (the host's ``link_id``): ``GET`` the gateway picker (``?gateway=NAME``
goes straight to that gateway); ``GET /{gateway}`` the identities step; ``POST
/{gateway}/assignments/{id}/{choice|headers|oauth}`` bring an identity; ``POST /{gateway}/allow``
mint the token; ``GET /{gateway}/token`` show it, once: the token waits in memory (``Handoffs``)
under a handle in a cookie, bound to the session and the step, and is removed as it is shown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote

from sqlalchemy import Connection, Row
from starlette.requests import Request
from starlette.responses import Response

from lockgate.brokering.authorization import Broker, BrokeringError, begin_authorization
from lockgate.domain.model import Availability, IdentityKind, IdentityScheme, IdentityStatus, Transport
from lockgate.domain.upstream_values import UpstreamValueError
from lockgate.policy.access_control import can_use_gateway, resolve_visible_gateways
from lockgate.policy.tokens import can_receive_tokens, can_use_private_identities, resolve_mint_refusal
from lockgate.store.connection_links import (
    LinkAssignment,
    fetch_link_gateway,
    fetch_link_host,
    find_authorizable_identity,
    list_link_assignments,
    list_link_gateways,
    load_connection_enabled,
)
from lockgate.store.identities import create_identity, save_choice, usable_identities
from lockgate.store.tokens import save_token
from lockgate.store.webhooks import enqueue_token_delivery, load_webhook_setter
from lockgate.web.handoff import Handoffs
from lockgate.web.site import PageError, Site, Visitor

SHOWN_ONCE_AGE: Final = 300
"""Seconds a minted token waits for its page."""


@dataclass(frozen=True, slots=True)
class Step:
    """A user's step on one gateway through one host's link: its assignments, and for each
    per-user one the identities they may pick (``options``: id → name, ready and enabled)."""

    link: str
    host: Row[Any]
    gateway: Row[Any]
    assignments: list[LinkAssignment]
    options: dict[int, list[tuple[int, str]]] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return f"/connect/{quote(self.link)}/{quote(self.gateway.name)}"

    @property
    def per_user(self) -> list[LinkAssignment]:
        return [a for a in self.assignments if a.scheme is IdentityScheme.PER_USER]

    @property
    def others(self) -> list[LinkAssignment]:
        """Assignments that need nothing from the user (a shared identity, or none)."""
        return [a for a in self.assignments if a.scheme is not IdentityScheme.PER_USER]

    @property
    def missing(self) -> list[LinkAssignment]:
        """Per-user assignments still without a usable identity."""
        return [a for a in self.per_user if a.chosen is None or not a.chosen.usable]

    def assignment(self, assignment_id: int) -> LinkAssignment:
        """Raises PageError (404) unless it is a per-user assignment of this gateway."""
        for a in self.per_user:
            if a.id == assignment_id:
                return a
        raise PageError(404, "No such server", "That server takes no identity on this gateway.", self.path)


class ConnectionPages:
    """The pages of the connection flow; ``broker`` runs the OAuth sign-ins; ``on_token_queued``
    is called once a minted token's webhook delivery has been committed (to wake the deliverer)."""

    def __init__(self, site: Site, broker: Broker, on_token_queued: Callable[[], None]) -> None:
        self.site = site
        self.broker = broker
        self.on_token_queued = on_token_queued
        self.minted: Handoffs[dict[str, Any]] = Handoffs(SHOWN_ONCE_AGE)

    async def on_home(self, request: Request) -> Response:
        visitor = await self.site.require_visitor(request)
        return self.site.render(request, "home.html", visitor=visitor)

    async def on_link(self, request: Request) -> Response:
        """The gateway picker: the live gateways the visitor's teams grant (all of them for a role
        that may use every gateway); ``?gateway=NAME`` preselects one."""
        visitor = await self.site.require_visitor(request)
        link = request.path_params["link"]
        chosen = request.query_params.get("gateway")
        if chosen:
            return self.site.redirect(f"/connect/{quote(link)}/{quote(chosen)}")

        def load(conn: Connection) -> tuple[Row[Any], list[Row[Any]]]:
            host = _fetch_host(conn, link)
            return host, list_link_gateways(conn, resolve_visible_gateways(visitor.actor))

        host, gateways = await self.site.run(load)
        context = {"host": host, "link": link, "gateways": gateways}
        return self.site.render(request, "link.html", context, visitor=visitor)

    async def on_step(self, request: Request) -> Response:
        """The identities step: what each per-user server needs, and "Allow" once nothing does."""
        visitor = await self.site.require_visitor(request)
        step = await self.site.run(lambda conn: self._step(conn, request, visitor, with_options=True))
        return self.site.render(request, "step.html", {"step": step, "Transport": Transport}, visitor=visitor)

    async def on_choice(self, request: Request) -> Response:
        """Use one of the identities the visitor may pick for this assignment."""
        visitor, _ = await self._visitor(request)
        form = await self.site.form(request, visitor.session)
        picked = str(form.get("identity", ""))

        def choose(conn: Connection) -> str:
            step = self._step(conn, request, visitor, with_options=True)
            assignment = step.assignment(request.path_params["assignment"])
            if not picked.isdigit() or int(picked) not in dict(step.options[assignment.id]):
                raise PageError(400, "Pick an identity", "Pick one of the identities listed.", step.path)
            save_choice(conn, visitor.user_id, assignment.id, int(picked))
            return step.path

        return self.site.redirect(await self.site.run(choose))

    async def on_headers(self, request: Request) -> Response:
        """A new private identity holding one pasted header (for a stdio server, an environment
        variable it declares for identities), chosen for this assignment. The value is checked as
        the API checks it (``lockgate.store.identities.check_identity_headers``)."""
        visitor, _ = await self._visitor(request)
        form = await self.site.form(request, visitor.session)
        name, value = str(form.get("name", "")).strip(), str(form.get("value", ""))

        def paste(conn: Connection) -> str:
            step = self._step(conn, request, visitor)
            assignment = step.assignment(request.path_params["assignment"])
            try:
                identity = create_identity(
                    conn,
                    self.site.vault,
                    name=None,
                    server_id=assignment.server_id,
                    owner_id=visitor.user_id,
                    kind=IdentityKind.HEADERS,
                    availability=Availability.PRIVATE,
                    headers={name: value},
                )
            except UpstreamValueError as exc:
                raise PageError(
                    400, "Check the header", f"Lockgate cannot send this: {exc}.", step.path
                ) from None
            save_choice(conn, visitor.user_id, assignment.id, identity.id)
            return step.path

        return self.site.redirect(await self.site.run(paste))

    async def on_oauth(self, request: Request) -> Response:
        """Sign in to the server with OAuth: an OAuth identity of the visitor awaiting authorization
        (the chosen one, else their newest, else a new one) is chosen for the assignment once the
        authorization has started, and the browser is sent to the authorization server; the
        callback brings it back to this step."""
        visitor, _ = await self._visitor(request)
        await self.site.form(request, visitor.session)

        def prepare(conn: Connection) -> tuple[int, int, str]:
            step = self._step(conn, request, visitor)
            assignment = step.assignment(request.path_params["assignment"])
            if assignment.transport is not Transport.HTTP:
                message = f"{assignment.server} is not reached over HTTP, so it has no OAuth sign-in."
                raise PageError(400, "No OAuth sign-in", message, step.path)
            identity_id = _awaiting(assignment, visitor.user_id) or find_authorizable_identity(
                conn, visitor.user_id, assignment.server_id
            )
            if identity_id is None:
                identity_id = create_identity(
                    conn,
                    self.site.vault,
                    name=None,
                    server_id=assignment.server_id,
                    owner_id=visitor.user_id,
                    kind=IdentityKind.OAUTH,
                    availability=Availability.PRIVATE,
                    status=IdentityStatus.PENDING,
                ).id
            return assignment.id, identity_id, step.path

        assignment_id, identity_id, step_path = await self.site.run(prepare)
        try:
            url = await begin_authorization(
                self.broker, identity_id, user_id=visitor.user_id, return_to=step_path
            )
        except BrokeringError as exc:
            raise PageError(502, "Sign-in could not start", exc.message, step_path) from None
        await self.site.run(lambda conn: save_choice(conn, visitor.user_id, assignment_id, identity_id))
        return self.site.redirect(url)

    async def on_allow(self, request: Request) -> Response:
        """Mint the API token for host × gateway × the visitor, in one transaction with its webhook
        delivery (when whoever set the webhook may use the gateway), and show it once (the next
        page, through ``minted``)."""
        visitor, _ = await self._visitor(request)
        await self.site.form(request, visitor.session)

        def mint(conn: Connection) -> tuple[Step, dict[str, Any]]:
            step = self._step(conn, request, visitor)
            if step.missing:
                names = ", ".join(a.name for a in step.missing)
                raise PageError(409, "Identities missing", f"Bring an identity for {names} first.", step.path)
            if load_connection_enabled(conn, step.host.id, step.gateway.id, visitor.user_id) is False:
                message = (
                    f"Your connection to {step.gateway.name} through {step.host.name} is disabled. "
                    "Ask an administrator to enable it."
                )
                raise PageError(403, "Connection disabled", message, step.path)
            me = visitor.actor
            refusal = resolve_mint_refusal(me, me, step.gateway.id, step.gateway.name, agent=False)
            if refusal is not None:
                raise PageError(403, "Not allowed", refusal, step.path)
            token_id, token = save_token(
                conn,
                self.site.key,
                step.host.name,
                step.gateway.name,
                me.email,
                minted_by=visitor.user_id,
                private_identities=can_use_private_identities(me, me),
                expires_at=None,
            )
            data = {
                "host": step.host.name,
                "gateway": step.gateway.name,
                "user": visitor.actor.email,
                "token_id": token_id,
                "token": token,
            }
            delivered = can_receive_tokens(
                load_webhook_setter(conn, step.host.id), step.gateway.id
            ) and enqueue_token_delivery(conn, self.site.vault, step.host.id, data)
            return step, {"token_id": token_id, "token": token, "delivered": delivered}

        step, shown = await self.site.run(mint)
        if shown["delivered"]:
            self.on_token_queued()
        response = self.site.redirect(step.path + "/token")
        handle = self.minted.put(self._shown_place(visitor, step.path), shown)
        response.set_cookie(
            self._shown_cookie,
            handle,
            max_age=SHOWN_ONCE_AGE,
            path="/",
            secure=self.site.secure,
            httponly=True,
            samesite="strict",
        )
        return response

    async def on_token(self, request: Request) -> Response:
        """The token just minted, once: it is taken from ``minted`` as it is shown, and the
        cookie holding its handle is cleared; a reload or a replay finds nothing (410)."""
        visitor = await self.site.require_visitor(request)
        step = await self.site.run(lambda conn: self._step(conn, request, visitor))
        handle = request.cookies.get(self._shown_cookie, "")
        shown = self.minted.take(handle, self._shown_place(visitor, step.path))
        context = {"step": step, "shown": shown, "mcp_url": f"{self.site.public_url}/mcp/{step.gateway.name}"}
        response = self.site.render(
            request, "token.html", context, visitor=visitor, status=200 if shown else 410
        )
        self.site.clear_cookie(response, self._shown_cookie)
        return response

    @property
    def _shown_cookie(self) -> str:
        return "__Host-lockgate_token" if self.site.secure else "lockgate_token"

    def _shown_place(self, visitor: Visitor, step_path: str) -> str:
        """Binds the minted token to this session and this step: it is shown nowhere else."""
        return f"web.token:{visitor.csrf}:{step_path}"

    async def _visitor(self, request: Request) -> tuple[Visitor, str]:
        """The visitor of a POST, who comes back to the step page after signing in if need be."""
        step_path = f"/connect/{quote(request.path_params['link'])}/{quote(request.path_params['gateway'])}"
        return await self.site.require_visitor(request, step_path), step_path

    def _step(
        self, conn: Connection, request: Request, visitor: Visitor, *, with_options: bool = False
    ) -> Step:
        """The visitor's step on the gateway in the path, through the host in the path.

        Raises:
            PageError: an unknown link, a disabled host, a gateway that is unknown, archived or not
                granted to the visitor's teams (404, alike), or disabled (403).
        """
        link, name = request.path_params["link"], request.path_params["gateway"]
        host = _fetch_host(conn, link)
        gateway = fetch_link_gateway(conn, name)
        if gateway is None or gateway.archived or not can_use_gateway(visitor.actor, gateway.id):
            message = f"No gateway called {name} is available to you. Pick one of those listed."
            raise PageError(404, "Gateway not available", message, f"/connect/{quote(link)}")
        if not gateway.enabled:
            message = f"Gateway {gateway.name} is disabled, so no one can connect to it right now."
            raise PageError(403, "Gateway disabled", message, f"/connect/{quote(link)}")
        step = Step(link, host, gateway, list_link_assignments(conn, gateway.id, visitor.user_id))
        if with_options:
            for a in step.per_user:
                rows = usable_identities(conn, visitor.user_id, a.server_id)
                step.options[a.id] = [(r.id, r.name) for r in rows if r.status == IdentityStatus.READY.value]
        return step


def _fetch_host(conn: Connection, link: str) -> Row[Any]:
    """The link's host. Raises PageError: an unknown link (404) or a disabled host (403)."""
    host = fetch_link_host(conn, link)
    if host is None:
        message = "This connection link is not valid. Ask whoever shared it for the current one."
        raise PageError(404, "Unknown connection link", message)
    if not host.enabled:
        message = f"{host.name} is disabled, so no one can connect it right now. Ask an administrator."
        raise PageError(403, "Host disabled", message)
    return host


def _awaiting(assignment: LinkAssignment, user_id: int) -> int | None:
    """The chosen identity when it is the user's own OAuth identity awaiting authorization."""
    chosen = assignment.chosen
    awaiting = (IdentityStatus.PENDING, IdentityStatus.NEEDS_REAUTHORIZATION)
    if (
        chosen
        and chosen.owner_id == user_id
        and chosen.kind is IdentityKind.OAUTH
        and chosen.status in awaiting
    ):
        return chosen.id
    return None
