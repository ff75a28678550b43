"""What every page shares: the store, who is signed in (the session cookie), CSRF tokens, and
rendering a template with the headers every page carries.

Cookies: the session cookie (``__Host-lockgate_session`` over https, ``lockgate_session`` over
http) is ``HttpOnly; SameSite=Lax; Path=/`` and ``Secure`` over https. A form's CSRF token is the
HMAC-SHA256 of the session cookie under the instance key (OWASP CSRF Prevention Cheat Sheet,
"signed double-submit cookie"); the sign-in form, before any session, uses a pre-session cookie
the same way.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar
from urllib.parse import urlencode

import anyio.to_thread
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import Connection, Engine
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from lockgate.domain.actor import Actor
from lockgate.store.web_sessions import SESSION_TTL, load_session_actor
from lockgate.vault import Vault

T = TypeVar("T")
MAX_FORM_BYTES: Final = 64 * 1024
PAGE_HEADERS: Final = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
    ),
    # Not no-referrer: under it a browser sends "Origin: null" on the pages' own forms (Fetch
    # §serializing a request origin). same-origin names Lockgate's origin to Lockgate only, and no
    # page URL (a connection link is one) to anyone else.
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


class PageError(Exception):
    """Refuse the request with a page saying why: ``status``, a ``title`` and a ``message`` for
    people; ``back`` is a path on Lockgate to offer as the way on, if any."""

    def __init__(self, status: int, title: str, message: str, back: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message
        self.back = back


@dataclass(frozen=True, slots=True)
class Visitor:
    """A signed-in user: who they are (``actor``, read fresh for this request), their session
    cookie's value, and the CSRF token their forms carry."""

    actor: Actor
    session: str = ""
    csrf: str = ""

    @property
    def user_id(self) -> int:
        assert self.actor.user_id is not None  # sessions belong to users, never to the operator
        return self.actor.user_id


class Site:
    """The shared parts of the web pages, built once by ``build_web``."""

    def __init__(self, engine: Engine, key: bytes, vault: Vault, public_url: str) -> None:
        self.engine = engine
        self.key = key
        self.vault = vault
        self.public_url = public_url.rstrip("/")
        self.secure = self.public_url.startswith("https://")
        self.session_cookie = "__Host-lockgate_session" if self.secure else "lockgate_session"
        self.signin_cookie = "__Host-lockgate_signin" if self.secure else "lockgate_signin"
        env = Environment(
            loader=PackageLoader("lockgate.web"),
            autoescape=select_autoescape(default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates = Jinja2Templates(env=env)

    async def run(self, step: Callable[[Connection], T]) -> T:
        """``step`` in a transaction of its own, off the event loop."""

        def transaction() -> T:
            with self.engine.begin() as conn:
                return step(conn)

        return await anyio.to_thread.run_sync(transaction)

    def csrf_token(self, cookie: str) -> str:
        """The CSRF token of forms sent by the holder of ``cookie`` (a session or pre-session value)."""
        return hmac.new(self.key, b"lockgate csrf:" + cookie.encode(), hashlib.sha256).hexdigest()

    async def visitor(self, request: Request) -> Visitor | None:
        """Who the session cookie signs in; None when nobody is (or the user was deactivated)."""
        cookie = request.cookies.get(self.session_cookie)
        if not cookie:
            return None
        actor = await self.run(lambda conn: load_session_actor(conn, self.key, cookie))
        if actor is None:
            return None
        return Visitor(actor, cookie, self.csrf_token(cookie))

    async def require_visitor(self, request: Request, return_path: str | None = None) -> Visitor:
        """The signed-in user.

        Raises:
            SignInRequired: nobody is signed in; they are sent to sign in and then to
                ``return_path`` (default: this request's path and query).
        """
        visitor = await self.visitor(request)
        if visitor is None:
            here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise SignInRequired(return_path or here)
        return visitor

    async def form(self, request: Request, cookie: str | None) -> FormData:
        """The POSTed form, once its ``csrf`` field matches the token of ``cookie``.

        Raises:
            PageError: 411 without a length, 413 for an oversized form, 403 for a missing or
                wrong CSRF token.
        """
        declared = request.headers.get("content-length", "")
        if not declared.isdigit():
            raise PageError(411, "Length required", "A form is sent with its length (Content-Length).")
        if int(declared) > MAX_FORM_BYTES:
            raise PageError(413, "Form too large", "That form is larger than any form Lockgate shows.")
        form = await request.form(max_files=0, max_fields=32)
        sent = form.get("csrf")
        expected = self.csrf_token(cookie).encode() if cookie else b""
        if not cookie or not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), expected):
            raise PageError(
                403,
                "Form expired",
                "This form could not be verified (it may have expired, or come from another site). "
                "Go back, reload the page and try again.",
            )
        return form

    def render(
        self,
        request: Request,
        template: str,
        context: Mapping[str, Any] | None = None,
        *,
        visitor: Visitor | None = None,
        status: int = 200,
    ) -> Response:
        """The template rendered with ``visitor`` (for the sign-out form), carrying ``PAGE_HEADERS``."""
        values = {"visitor": visitor, **(context or {})}
        return self.templates.TemplateResponse(
            request, template, values, status_code=status, headers=PAGE_HEADERS
        )

    def redirect(self, path: str) -> RedirectResponse:
        """303 See Other to a path on Lockgate."""
        return RedirectResponse(path, status_code=303, headers=PAGE_HEADERS)

    def set_session_cookie(self, response: Response, value: str) -> None:
        response.set_cookie(
            self.session_cookie,
            value,
            max_age=int(SESSION_TTL),
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="lax",
        )

    def clear_cookie(self, response: Response, name: str, path: str = "/") -> None:
        response.delete_cookie(name, path=path, secure=self.secure, httponly=True, samesite="lax")


class SignInRequired(Exception):
    """Nobody is signed in; ``next`` is where to return after signing in."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next = next_path

    @property
    def location(self) -> str:
        return "/signin?" + urlencode({"next": self.next})
