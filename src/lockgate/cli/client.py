"""The CLI's one seam to the control plane: run an operation, get the JSON the API answers.

Two transports stand behind ``Client``:

- ``HttpClient`` calls a running Lockgate's JSON API (``--url``/``LOCKGATE_URL``) with a personal
  access token, building method, path, query, body and ``If-Match`` from the operation exactly as
  ``api/http.py`` reads them.
- ``LocalClient`` runs the same ``api.operation.execute`` in process against the local store, as the
  instance operator: whoever can read the store's key file can already change anything, so the
  operator holds every capability. Its changes are recorded as admin events naming
  ``operator@<login name>``.

Both answer the same bytes for the same call, and both raise ``CallFailed`` with the API's error
envelope (``api/errors.py``).
"""

from __future__ import annotations

import getpass
import uuid
from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import quote

import anyio
import httpx
import orjson
from sqlalchemy import Engine

from lockgate.api.errors import ApiError
from lockgate.api.http import PREFIX
from lockgate.api.operation import PATH_PARAM, Context, Operation, execute
from lockgate.domain.actor import Actor
from lockgate.domain.capabilities import Capability
from lockgate.domain.rules import RuleEngine
from lockgate.egress import IPNetwork
from lockgate.engines import Engines, EngineTest
from lockgate.vault import Vault

OPERATOR_ROLE = "Instance operator"
TIMEOUT = 60.0


class CallFailed(Exception):
    """The control plane refused an operation or could not be reached.

    ``status`` is the HTTP status (0 when the server was not reached); ``field`` names an offending
    input field and ``capability`` the capability a 403 lacks, as in the API's error envelope.
    """

    def __init__(
        self, status: int, message: str, *, field: str | None = None, capability: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.capability = capability

    def describe(self) -> str:
        """The message, with the field or capability appended when the message does not name it."""
        text = self.message
        if self.field and self.field not in text:
            text += f" (field: {self.field})"
        if self.capability and self.capability not in text and _label(self.capability) not in text:
            text += f" (capability: {self.capability})"
        return text


class Client(Protocol):
    """Runs one operation with its input ``values`` (path parameters, fields and ``if_match`` by
    field name, as JSON values) and returns the response body the JSON API answers: JSON bytes, or
    None for 204 No Content.

    Raises:
        CallFailed: the API's error (400, 401, 403, 404, 409, 412, ...) or an unreachable server.
    """

    def call(self, operation: Operation, values: dict[str, Any]) -> bytes | None: ...


class HttpClient:
    """A running Lockgate's JSON API. ``base_url`` is the instance (``http://host:8080``) or its API
    (``http://host:8080/api/v1``); ``transport`` replaces the network (``httpx.MockTransport``)."""

    def __init__(self, base_url: str, token: str, transport: httpx.BaseTransport | None = None) -> None:
        base = base_url.rstrip("/")
        self.base_url = base if base.endswith(PREFIX) else base + PREFIX
        self.token = token
        self.transport = transport

    def call(self, operation: Operation, values: dict[str, Any]) -> bytes | None:
        path = PATH_PARAM.sub(lambda m: quote(str(values[m.group(1)]), safe=""), operation.path)
        rest = {k: v for k, v in values.items() if k not in operation.path_params and k != "if_match"}
        headers = {"Authorization": f"Bearer {self.token}"}
        if values.get("if_match") is not None:
            headers["If-Match"] = f'"{values["if_match"]}"'
        query = body = None
        if operation.method in ("GET", "DELETE"):
            query = [(k, item) for k, v in rest.items() for item in (v if isinstance(v, list) else [v])]
        elif rest:
            body = orjson.dumps(rest)
            headers["Content-Type"] = "application/json"
        try:
            with httpx.Client(transport=self.transport, timeout=TIMEOUT) as http:
                response = http.request(
                    operation.method, self.base_url + path, params=query, content=body, headers=headers
                )
        except httpx.HTTPError as exc:
            raise CallFailed(0, f"cannot reach {self.base_url}: {exc}") from exc
        if response.is_success:
            return None if response.status_code == 204 else response.content
        raise _failure(response)


class LocalClient:
    """The local store, in process, acting as ``actor`` (see ``operator_actor``)."""

    def __init__(
        self,
        engine: Engine,
        token_key: bytes,
        vault: Vault,
        actor: Actor,
        public_url: str,
        server_networks: Sequence[IPNetwork],
        egress_networks: Sequence[IPNetwork] = (),
        *,
        ner_model: bool = False,
    ) -> None:
        self.engine = engine
        self.token_key = token_key
        self.vault = vault
        self.actor = actor
        self.public_url = public_url
        self.server_networks = tuple(server_networks)
        self.egress_networks = tuple(egress_networks)
        self.ner_model = ner_model

    def call(self, operation: Operation, values: dict[str, Any]) -> bytes | None:
        ctx = Context(
            self.engine,
            self.actor,
            str(uuid.uuid4()),
            self.token_key,
            self.vault,
            public_url=self.public_url,
            server_networks=self.server_networks,
            egress_networks=self.egress_networks,
            ner_model=self.ner_model,
            engines=_OneOffEngines(self.egress_networks),
        )
        try:
            result = anyio.run(execute, operation, ctx, values)
        except ApiError as exc:
            raise CallFailed(exc.status, exc.message, field=exc.field, capability=exc.capability) from exc
        if result is None:
            return None
        return result.__pydantic_serializer__.to_json(result)  # what api/http.py answers


class _OneOffEngines:
    """Rule engines' Test from the command line: a client of its own for the one call."""

    def __init__(self, allowed_networks: Sequence[IPNetwork]) -> None:
        self._allowed = [str(network) for network in allowed_networks]

    async def test(self, engine: RuleEngine) -> EngineTest:
        engines = Engines(self._allowed)
        try:
            return await engines.test(engine)
        finally:
            await engines.aclose()


def operator_actor() -> Actor:
    """The instance operator: every capability, every gateway; named ``operator@<login name>``."""
    try:
        login = getpass.getuser()
    except (KeyError, OSError):  # no login name in this environment (e.g. a bare container uid)
        login = "unknown"
    return Actor(
        user_id=None,
        email=f"operator@{login}",
        role=OPERATOR_ROLE,
        capabilities=frozenset(Capability),
        gateway_ids=frozenset(),
    )


def _failure(response: httpx.Response) -> CallFailed:
    try:
        error = orjson.loads(response.content)["error"]
        return CallFailed(
            response.status_code,
            str(error["message"]),
            field=error.get("field"),
            capability=error.get("capability"),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError):
        text = response.text.strip()[:200] or response.reason_phrase
        return CallFailed(response.status_code, f"HTTP {response.status_code} from {response.url}: {text}")


def _label(capability: str) -> str:
    try:
        return Capability(capability).label
    except ValueError:
        return capability
