"""``Engines``: asks a rule engine for its verdict on one message, whatever its kind
(docs/rule-engines.md).

Each engine has an egress-guarded HTTP client of its own (``EnginePools``; the operator's allowed
networks are the only non-public addresses reached, and the only ones plain http may go to), so a
slow engine holds its own connections and never another engine's. Each
kind is an ``Adapter``: a function of the engine, the request and the ask's ``EngineHttp`` to a
verdict. ``ask`` bounds the whole of it, token exchanges and retries included, by the engine's
``timeout_s`` (at most ``LIMITS.engine_timeout_s``), and turns every way of not deciding into an
``EngineFailure`` whose reason is safe to store: the rule's failure mode then decides.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

import anyio

from lockgate.domain.rules import LIMITS, Direction, EngineKind, EngineRequest, RuleEngine, Verdict
from lockgate.egress import parse_networks
from lockgate.engines import bedrock, lakera, prompt_shields, webhook
from lockgate.engines.http import EngineFailure, EngineHttp
from lockgate.engines.model_armor import ModelArmor
from lockgate.engines.pools import EnginePools
from lockgate.engines.settings import EngineDefinitionError, check

Adapter = Callable[[RuleEngine, EngineRequest, EngineHttp], Awaitable[Verdict]]
"""One engine kind: the verdict of ``engine`` on ``request``, its HTTP through ``http``; raises
``EngineFailure``."""

TEST_BODY = {
    "jsonrpc": "2.0",
    "id": "lockgate-test",
    "method": "tools/call",
    "params": {
        "name": "lockgate_test",
        "arguments": {"text": "A test message from Lockgate: please ignore."},
    },
}
"""The sample message of the Test operation: a ``tools/call`` request."""


@dataclass(frozen=True, slots=True)
class EngineTest:
    """What the Test operation found: the engine's verdict or why it gave none, and how long it
    took (milliseconds)."""

    verdict: Verdict | None
    failure: str | None
    duration_ms: float


class Engines:
    """Asks rule engines, each over a guarded client of its own (``EnginePools``).
    ``allowed_networks`` are the operator's ``egress_allowed_networks`` (CIDRs).

    Raises:
        ValueError: a malformed CIDR in ``allowed_networks``.
    """

    def __init__(self, allowed_networks: Sequence[str]) -> None:
        self._allowed = parse_networks(allowed_networks)
        self._pools = EnginePools(allowed_networks)
        self._adapters: Mapping[EngineKind, Adapter] = {
            EngineKind.WEBHOOK: webhook.ask,
            EngineKind.LAKERA: lakera.ask,
            EngineKind.BEDROCK: bedrock.ask,
            EngineKind.MODEL_ARMOR: ModelArmor().ask,
            EngineKind.PROMPT_SHIELDS: prompt_shields.ask,
        }

    async def ask(self, engine: RuleEngine, request: EngineRequest) -> Verdict:
        """The verdict of ``engine`` on ``request``: ``pass``, ``block`` or a checked ``modify``
        (never ``error``: that is a failure).

        Raises:
            EngineFailure: the definition cannot be used, the engine took longer than its
                ``timeout_s``, or could not decide (see ``EngineHttp.post``, the adapters).
        """
        try:
            check(engine)
        except EngineDefinitionError as exc:
            raise EngineFailure(f"the engine's definition cannot be used: {exc}") from None
        seconds = min(engine.timeout_s, LIMITS.engine_timeout_s[1])
        deadline = time.monotonic() + seconds
        try:
            with anyio.fail_after(seconds):
                async with self._pools.client(engine) as client:
                    http = EngineHttp(client, self._allowed, engine.headers, engine.retries, deadline)
                    return await self._adapters[engine.kind](engine, request, http)
        except TimeoutError:
            raise EngineFailure(f"the engine did not answer within {seconds:g} s") from None
        except EngineFailure:
            raise
        except Exception as exc:  # e.g. a header value httpx cannot encode: never its message (a secret)
            raise EngineFailure(f"the engine could not be asked ({type(exc).__name__})") from None

    async def test(self, engine: RuleEngine) -> EngineTest:
        """The built-in Test operation: ask ``engine`` about ``TEST_BODY`` in an envelope marked
        ``test``, and report the verdict or the failure, and the time taken. Never raises."""
        request = EngineRequest(
            rule_id=0,
            rule="(test)",
            engine_id=engine.id,
            engine=engine.name,
            user_id=None,
            user_email=None,
            host=None,
            gateway_id=None,
            gateway=None,
            server=None,
            tool="lockgate_test",
            method="tools/call",
            direction=Direction.REQUEST,
            correlation_id="lockgate-test",
            time=time.time(),
            body=TEST_BODY,
            test=True,
        )
        started = time.perf_counter()
        try:
            verdict: Verdict | None = await self.ask(engine, request)
            failure = None
        except EngineFailure as exc:
            verdict, failure = None, exc.reason
        return EngineTest(verdict, failure, round((time.perf_counter() - started) * 1000, 1))

    async def aclose(self) -> None:
        """Close the engines' HTTP clients (their connections)."""
        await self._pools.aclose()
