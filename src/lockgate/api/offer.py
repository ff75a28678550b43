"""What a server offers now, asked live as an identity: the one path of the features preview and of
every approval that records "the definition offered now" (issue 11: approvals pin what the server
offered when someone decided).

Raises the control plane's errors for what can go wrong on the way (``ask_server``).
"""

from __future__ import annotations

from lockgate.api.errors import Conflict, UpstreamUnavailable
from lockgate.api.operation import Context
from lockgate.brokering.refresh import CredentialRefreshError
from lockgate.domain.model import Credential, IdentityStatus, Server
from lockgate.upstream.base import UpstreamError
from lockgate.upstream.preview import Preview


async def ask_server(ctx: Context, server: Server, credential: Credential | None) -> Preview:
    """Every feature ``server`` lists now to ``credential`` (None: its own configuration), its OAuth
    token refreshed first when due.

    Raises:
        Conflict: the server or the identity is disabled (as the data plane refuses them), or the
            identity must be authorized again (409).
        UpstreamUnavailable: the server cannot be reached, or this process reaches no servers (502).
    """
    if not server.enabled:
        raise Conflict(f"server {server.name!r} is disabled; enable it to preview its features")
    if ctx.preview is None:
        raise UpstreamUnavailable("this process does not reach servers; ask the running gateway")
    if credential is not None and not credential.enabled:
        raise Conflict(
            f"identity {credential.name!r} for server {server.name!r} is disabled; enable it to ask as it"
        )
    reconnect = f"authorize it again at {ctx.public_url}/connect"
    if credential is not None and credential.status is not IdentityStatus.READY:
        raise Conflict(f"identity {credential.name!r} for server {server.name!r} is not ready; {reconnect}")
    try:
        return await ctx.preview(server, credential)
    except CredentialRefreshError as exc:
        if exc.needs_reauthorization:
            raise Conflict(f"{exc}; {reconnect}") from exc
        raise UpstreamUnavailable(f"cannot preview the features of server {server.name!r}: {exc}") from exc
    except UpstreamError as exc:
        raise UpstreamUnavailable(f"cannot preview the features of server {server.name!r}: {exc}") from exc
