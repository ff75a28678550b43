"""How every benchmark upstream listens: uvicorn on 127.0.0.1 with uvloop and httptools, quiet."""

from __future__ import annotations

from typing import Any, Literal

import uvicorn


def serve_upstream(app: Any, port: int, *, lifespan: Literal["auto", "on", "off"] = "off") -> None:
    """Serve the ASGI ``app`` on ``127.0.0.1:port`` until stopped (``lifespan`` as uvicorn's)."""
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        lifespan=lifespan,
    )
