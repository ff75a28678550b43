"""Signing in with a local account (email and password) and signing out.

A failed sign-in says one thing whatever failed (no such account, no password, deactivated, wrong
password), so the page tells nobody who has an account (OWASP Authentication Cheat Sheet). Each
sign-in starts a new session (no session fixation) and ends the one the browser had.

Guessing is braked by ``throttle`` (see ``lockgate.web.throttle``). A successful sign-in leaves a
device cookie in the browser (``<nonce>.<HMAC-SHA256 of account and nonce under the instance
key>``, HttpOnly, SameSite=Strict, for ``DEVICE_COOKIE_AGE`` seconds): with it, that browser's
attempts on that account are counted apart from everyone else's.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import Response

from lockgate.brokering.authorization import is_local_path
from lockgate.store.passwords import load_password_user
from lockgate.store.web_sessions import delete_web_session, save_web_session
from lockgate.web.site import Site
from lockgate.web.throttle import SignInThrottle, resolve_keys

HOME = "/connect"
SIGNIN_COOKIE_AGE = 3600
DEVICE_COOKIE_AGE = 180 * 24 * 3600
FAILED = "That email and password do not match an active account."
THROTTLED = "Too many failed sign-ins. Wait a few minutes, then try again."


class SignInPages:
    """``GET``/``POST /signin`` and ``POST /signout``."""

    def __init__(self, site: Site, throttle: SignInThrottle) -> None:
        self.site = site
        self.throttle = throttle

    async def on_form(self, request: Request) -> Response:
        """The sign-in form (also to a signed-in visitor, who may sign in as someone else)."""
        return self._form(request, _next(request.query_params.get("next")))

    async def on_submit(self, request: Request) -> Response:
        form = await self.site.form(request, request.cookies.get(self.site.signin_cookie))
        email, password = str(form.get("email", "")).strip(), str(form.get("password", ""))
        next_path = _next(str(form.get("next", "")))
        address = request.client.host if request.client else "unknown"
        device = self._device(request.cookies.get(self._device_cookie, ""), email)
        attempt = self.throttle.reserve(resolve_keys(email, address, device))
        if attempt is None:
            return self._form(request, next_path, email=email, error=THROTTLED, status=429)
        user_id = await self.site.run(lambda conn: load_password_user(conn, email, password))
        if user_id is None:
            return self._form(request, next_path, email=email, error=FAILED, status=400)
        self.throttle.release(attempt)
        previous = request.cookies.get(self.site.session_cookie)

        def start(conn: Connection) -> str:
            if previous:
                delete_web_session(conn, self.site.key, previous)
            return save_web_session(conn, self.site.key, user_id)

        session = await self.site.run(start)
        response = self.site.redirect(next_path)
        self.site.set_session_cookie(response, session)
        self.site.clear_cookie(response, self.site.signin_cookie)
        self._remember_device(response, email)
        return response

    async def on_signout(self, request: Request) -> Response:
        visitor = await self.site.visitor(request)
        response = self.site.redirect("/signin")
        if visitor is None:
            return response
        await self.site.form(request, visitor.session)
        await self.site.run(lambda conn: delete_web_session(conn, self.site.key, visitor.session))
        self.site.clear_cookie(response, self.site.session_cookie)
        return response

    @property
    def _device_cookie(self) -> str:
        return "__Host-lockgate_device" if self.site.secure else "lockgate_device"

    def _remember_device(self, response: Response, email: str) -> None:
        """Leave a device cookie for ``email`` in the browser (see the module docstring)."""
        nonce = secrets.token_urlsafe(16)
        response.set_cookie(
            self._device_cookie,
            f"{nonce}.{self._device_mac(email, nonce)}",
            max_age=DEVICE_COOKIE_AGE,
            path="/",
            secure=self.site.secure,
            httponly=True,
            samesite="strict",
        )

    def _device_mac(self, email: str, nonce: str) -> str:
        message = f"lockgate device:{email.strip().lower()}:{nonce}".encode()
        return hmac.new(self.site.key, message, hashlib.sha256).hexdigest()

    def _device(self, cookie: str, email: str) -> str | None:
        """The nonce of device cookie ``cookie`` when it was issued for ``email``, else None."""
        nonce, _, mac = cookie.partition(".")
        valid = hmac.compare_digest(mac.encode(), self._device_mac(email, nonce).encode())
        return nonce if nonce and valid else None

    def _form(
        self,
        request: Request,
        next_path: str,
        *,
        email: str = "",
        error: str | None = None,
        status: int = 200,
    ) -> Response:
        pre_session = request.cookies.get(self.site.signin_cookie) or secrets.token_urlsafe(32)
        context = {
            "next": next_path,
            "email": email,
            "error": error,
            "csrf": self.site.csrf_token(pre_session),
        }
        response = self.site.render(request, "signin.html", context, status=status)
        response.set_cookie(
            self.site.signin_cookie,
            pre_session,
            max_age=SIGNIN_COOKIE_AGE,
            path="/",
            secure=self.site.secure,
            httponly=True,
            samesite="lax",
        )
        return response


def _next(value: str | None) -> str:
    """Where to go after signing in: ``value`` when it is a path on Lockgate, else the home page."""
    return value if value and is_local_path(value) else HOME
