"""Lockgate's side of OAuth to upstream servers, on the web: the one fixed callback every
authorization returns to (``/oauth/callback``), and the Client ID Metadata Document authorization
servers fetch (``/oauth/client-metadata.json``, served only when the public URL is https)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from lockgate.brokering.authorization import Broker, BrokeringError, complete_authorization
from lockgate.brokering.client_metadata import client_metadata_document
from lockgate.web.signin import HOME
from lockgate.web.site import PageError, Site

METADATA_MAX_AGE = 3600


class OAuthPages:
    """``GET /oauth/callback`` and ``GET /oauth/client-metadata.json``."""

    def __init__(self, site: Site, broker: Broker) -> None:
        self.site = site
        self.broker = broker

    async def on_callback(self, request: Request) -> Response:
        """Completes the authorization the query answers, for the signed-in user who began it (one
        who is not signed in signs in first and comes back here), then goes back where they were."""
        visitor = await self.site.require_visitor(request)
        try:
            completion = await complete_authorization(
                self.broker, dict(request.query_params), user_id=visitor.user_id
            )
        except BrokeringError as exc:
            raise PageError(400, "Sign-in not completed", exc.message, exc.return_to or HOME) from None
        return self.site.redirect(completion.return_to or HOME)

    async def on_client_metadata(self, request: Request) -> Response:
        document = client_metadata_document(self.site.public_url)
        if document is None:
            raise PageError(404, "Not found", "Lockgate serves a client metadata document only over https.")
        return JSONResponse(document, headers={"Cache-Control": f"public, max-age={METADATA_MAX_AGE}"})
