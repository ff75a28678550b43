"""Host authentication on the data plane: an expired API token is refused like a revoked one, with
a 401 that says why (RFC 6750 §3.1 ``invalid_token``)."""

from __future__ import annotations

import time

import httpx2
from sqlalchemy import update

from lockgate.store.schema import api_tokens
from tests.conftest import DEADLINE, Api, RunningGateway

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}


def _post(lockgate: RunningGateway, token: str) -> httpx2.Response:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"}
    return httpx2.post(lockgate.url("g"), json=INITIALIZE, headers=headers, timeout=DEADLINE)


def test_an_expired_api_token_is_refused_with_a_401_saying_it_expired(
    admin: Api, lockgate: RunningGateway
) -> None:
    lockgate.declare({"gateways": [{"name": "g"}], "hosts": [{"name": "agent"}]})
    minted = admin.post("/tokens", json={"host": "agent", "gateway": "g", "expires_in": "1h"}).json()
    assert _post(lockgate, minted["token"]).status_code == 200
    with lockgate.engine.begin() as conn:  # an hour later, without waiting for it
        conn.execute(
            update(api_tokens)
            .where(api_tokens.c.public_id == minted["id"])
            .values(expires_at=time.time() - 1)
        )
    refused = _post(lockgate, minted["token"])
    assert refused.status_code == 401
    assert refused.json()["error"]["message"] == "the API token has expired"
    assert refused.json()["error"]["data"] == {"reason": "token_expired"}
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
