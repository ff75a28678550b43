"""The web pages people use in a browser: signing in, and connecting a host to a gateway through its
shareable connection link (bringing identities, getting a per-user API token). Server-rendered
Jinja2 templates (``templates/``), plain HTML, no scripts; no business logic of their own."""

from lockgate.web.app import build_web

__all__ = ["build_web"]
