"""``lockgate serve``: run the gateway."""

from __future__ import annotations

import logging
from typing import Annotated

import typer
import uvicorn
from starlette.types import ASGIApp

from lockgate.app import build_app
from lockgate.cli.context import load_settings, open_store
from lockgate.listener import BoundedHttpProtocol
from lockgate.settings import Settings


def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default LOCKGATE_HOST or 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind (default LOCKGATE_PORT or 8080).")] = None,
) -> None:
    """Serve the MCP endpoint /mcp/{gateway}, the control plane /api/v1 and /healthz until interrupted."""
    settings = load_settings()
    if host is not None:
        settings.host = host
    if port is not None:
        settings.port = port
    run(settings)


def run(settings) -> None:  # type: ignore[no-untyped-def]
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    engine = open_store(settings)
    uvicorn.Server(listener_config(settings, build_app(settings, engine))).run()


def listener_config(settings: Settings, app: ASGIApp) -> uvicorn.Config:
    """How ``lockgate serve`` listens: uvloop and httptools, bounded as ``lockgate.listener`` says
    (a read deadline and a header size per request), idle keep-alive connections closed after
    ``keep_alive_timeout`` and 503 past ``max_connections`` connections or requests in progress."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        loop="uvloop",
        http=BoundedHttpProtocol.bounded(settings.request_read_timeout, settings.max_header_bytes),
        lifespan="on",
        timeout_keep_alive=settings.keep_alive_timeout,
        limit_concurrency=settings.max_connections,
        timeout_graceful_shutdown=5,
    )
