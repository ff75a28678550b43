"""Writing an assignment's provisioning straight to the store, as any writer (API, CLI, SQL) would, for
the in-process provisioning tests."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import orjson
from sqlalchemy import Engine, select, update

from lockgate.domain.features import FeatureKind
from lockgate.domain.mcp import JsonObject
from lockgate.domain.provisioning import ALL_PINS, Decision, MetadataFilter, Mode, PinField, definition_digest
from lockgate.store.provisioning import dump_filter, dump_modes
from lockgate.store.schema import feature_approvals, feature_reviews, gateway_servers, servers, teams
from tests.dataplane.in_process import FrontClient, MemoryGateway


def assignment_id(engine: Engine, server: str) -> int:
    with engine.connect() as conn:
        query = (
            select(gateway_servers.c.id)
            .join(servers, servers.c.id == gateway_servers.c.server_id)
            .where(servers.c.name == server)
        )
        found: int = conn.execute(query).scalar_one()
        return found


def set_modes(
    engine: Engine, server: str, modes: Mapping[FeatureKind, Mode], rules: MetadataFilter | None = None
) -> None:
    """Set the assignment's modes (kinds not named: ``allow_all``) and metadata filter."""
    every = {kind: modes.get(kind, Mode.ALLOW_ALL) for kind in FeatureKind}
    values: JsonObject = {"provisioning": dump_modes(every)}
    if rules is not None:
        values["metadata_filter"] = dump_filter(rules)
    assignment = assignment_id(engine, server)
    with engine.begin() as conn:
        conn.execute(update(gateway_servers).where(gateway_servers.c.id == assignment).values(**values))


def approve(
    engine: Engine,
    server: str,
    kind: FeatureKind,
    definition: JsonObject,
    *,
    pinned: Iterable[PinField] = ALL_PINS,
    team_names: Iterable[str] = (),
    decision: Decision = Decision.APPROVED,
) -> None:
    """Record an approval (or rejection) of ``definition`` as offered now."""
    assignment = assignment_id(engine, server)
    with engine.begin() as conn:
        team_ids = [
            conn.execute(select(teams.c.id).where(teams.c.name == n)).scalar_one() for n in team_names
        ]
        conn.execute(
            feature_approvals.insert().values(
                assignment_id=assignment,
                kind=kind.value,
                name=definition[kind.key],
                decision=decision.value,
                definition=definition,
                digest=definition_digest(definition),
                pinned=sorted(p.value for p in pinned),
                teams=team_ids,
                decided_by="admin@example.com",
                decided_at=time.time(),
            )
        )


def reviews(engine: Engine) -> list[JsonObject]:
    with engine.connect() as conn:
        rows = conn.execute(select(feature_reviews).order_by(feature_reviews.c.id)).mappings().all()
    return [{**row, "findings": _json(row["findings"])} for row in rows]


def _json(value: object) -> object:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


@dataclass(frozen=True)
class Answered:
    """One request's HTTP status, JSON-RPC answer and legs."""

    status: int
    answer: JsonObject
    legs: list[JsonObject]

    @property
    def types(self) -> list[str]:
        return [leg["type"] for leg in self.legs]


async def answered(gateway: MemoryGateway, client: FrontClient, method: str, params: JsonObject) -> Answered:
    response = await client.post(client.body(method, params))
    legs = await gateway.legs(response.headers["x-correlation-id"])
    return Answered(response.status_code, response.json(), legs)


def names(answer: JsonObject, kind: FeatureKind) -> list[str]:
    return [item[kind.key] for item in answer["result"][kind.value]]
