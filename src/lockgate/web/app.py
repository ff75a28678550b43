"""The web pages as one ASGI app, its route table on one screen: signing in, the connection flow
behind each host's connection link, and the OAuth callback. Server-rendered HTML, no scripts."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from lockgate.brokering.authorization import Broker
from lockgate.vault import Vault
from lockgate.web.connect import ConnectionPages
from lockgate.web.oauth import OAuthPages
from lockgate.web.signin import SignInPages
from lockgate.web.site import PageError, SignInRequired, Site
from lockgate.web.throttle import SignInThrottle

Guard = Callable[[str | None, str | None], tuple[int, str] | None]
SIGNIN_LIMITS = {"address": 50, "client": 5, "account": 20, "device": 5}
"""Sign-in attempts per 15 minutes before more are refused, by kind of key (``web.throttle``): per
client address, per account from one address, per account from browsers it never signed in with,
per account from one browser it did."""


def build_web(
    engine: Engine,
    key: bytes,
    vault: Vault,
    broker: Broker,
    guard: Guard,
    on_token_queued: Callable[[], None] = lambda: None,
) -> ASGIApp:
    """The pages at ``/signin``, ``/signout``, ``/connect...`` and ``/oauth/...``; ``guard`` checks
    Host and Origin as on the rest of the app (``dataplane.guard.HostOriginGuard.check``);
    ``on_token_queued`` wakes the webhook deliverer once a minted token's delivery is committed."""
    site = Site(engine, key, vault, broker.public_url)
    signin = SignInPages(site, SignInThrottle(SIGNIN_LIMITS))
    connect = ConnectionPages(site, broker, on_token_queued)
    oauth = OAuthPages(site, broker)
    step = "/connect/{link}/{gateway}"
    assignment = step + "/assignments/{assignment:int}"
    routes = [
        Route("/signin", signin.on_form, methods=["GET"]),
        Route("/signin", signin.on_submit, methods=["POST"]),
        Route("/signout", signin.on_signout, methods=["POST"]),
        Route("/connect", connect.on_home, methods=["GET"]),
        Route("/connect/{link}", connect.on_link, methods=["GET"]),
        Route(step, connect.on_step, methods=["GET"]),
        Route(assignment + "/choice", connect.on_choice, methods=["POST"]),
        Route(assignment + "/headers", connect.on_headers, methods=["POST"]),
        Route(assignment + "/oauth", connect.on_oauth, methods=["POST"]),
        Route(step + "/allow", connect.on_allow, methods=["POST"]),
        Route(step + "/token", connect.on_token, methods=["GET"]),
        Route("/oauth/callback", oauth.on_callback, methods=["GET"]),
        Route("/oauth/client-metadata.json", oauth.on_client_metadata, methods=["GET"]),
    ]

    async def on_page_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageError)
        context = {"title": exc.title, "message": exc.message, "back": exc.back}
        return site.render(
            request, "message.html", context, visitor=await site.visitor(request), status=exc.status
        )

    async def on_sign_in_required(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        return site.redirect(exc.location)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        context = {
            "title": exc.detail,
            "message": f"There is no page here ({exc.status_code} {exc.detail}).",
            "back": None,
        }
        return site.render(request, "message.html", context, status=exc.status_code)

    handlers = {PageError: on_page_error, SignInRequired: on_sign_in_required, HTTPException: on_http_error}
    return HostOriginCheck(Starlette(routes=routes, exception_handlers=handlers), guard)


OPAQUE_ORIGIN = "null"
"""The Origin a browser sends when it will not say (RFC 6454 §7.3, Fetch §origin header): from a
sandboxed frame, after a redirect across origins, or under ``Referrer-Policy: no-referrer``."""


class HostOriginCheck:
    """Refuses a request whose Host or Origin ``guard`` refuses (421 or 403), before any page.

    An opaque ``Origin: null`` is left to the page: it names no site to refuse, and every request
    that changes anything here is a POST whose form ``Site.form`` accepts only with the CSRF token
    of the sender's own cookie, which a page elsewhere can neither read nor have sent (SameSite).
    A named Origin must still be one ``guard`` lists.
    """

    def __init__(self, app: ASGIApp, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = Headers(scope=scope)
            origin = headers.get("origin")
            refused = self.guard(headers.get("host"), None if origin == OPAQUE_ORIGIN else origin)
            if refused is not None:
                await PlainTextResponse(refused[1], status_code=refused[0])(scope, receive, send)
                return
        await self.app(scope, receive, send)
