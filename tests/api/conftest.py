"""Fixtures for the control plane: a running Lockgate with a Super admin, and users of any role."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
from sqlalchemy import insert, select

from lockgate.domain.capabilities import Capability
from lockgate.store.people import bootstrap_super_admin, create_personal_access_token, ensure_user, role_id
from lockgate.store.schema import gateways as gateway_table
from lockgate.store.schema import roles, team_gateways, team_members, teams, users
from tests.conftest import DEADLINE, RunningGateway


@dataclass
class Api:
    """An HTTP client for ``/api/v1`` with one user's personal access token."""

    base: str
    token: str

    def request(self, method: str, path: str, **kwargs: Any) -> httpx2.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return httpx2.request(method, self.base + path, headers=headers, timeout=DEADLINE, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx2.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx2.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> httpx2.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx2.Response:
        return self.request("DELETE", path, **kwargs)


@dataclass
class People:
    """Makes users with a role (built-in or custom) and teams, straight in the store."""

    lockgate: RunningGateway

    def role(self, name: str, capabilities: Iterable[Capability]) -> str:
        with self.lockgate.engine.begin() as conn:
            conn.execute(
                insert(roles).values(
                    name=name,
                    builtin=False,
                    capabilities=[c.value for c in capabilities],
                    version=1,
                    created_at=time.time(),
                )
            )
        return name

    def user(self, email: str, role: str, teams_: Iterable[str] = (), gateways: Iterable[str] = ()) -> Api:
        """A user with ``role``, member of ``teams_`` (created when new), each granted ``gateways``."""
        with self.lockgate.engine.begin() as conn:
            user_id = ensure_user(conn, email)
            conn.execute(users.update().where(users.c.id == user_id).values(role_id=role_id(conn, role)))
            for team in teams_:
                team_id = conn.execute(select(teams.c.id).where(teams.c.name == team)).scalar()
                if team_id is None:
                    team_id = conn.execute(
                        insert(teams).values(name=team, version=1, created_at=time.time())
                    ).inserted_primary_key[0]
                conn.execute(insert(team_members).values(team_id=team_id, user_id=user_id))
                for gateway in gateways:
                    gateway_id = conn.execute(
                        select(gateway_table.c.id).where(gateway_table.c.name == gateway)
                    ).scalar_one()
                    conn.execute(insert(team_gateways).values(team_id=team_id, gateway_id=gateway_id))
            _row, token = create_personal_access_token(
                conn, self.lockgate.settings.key_bytes(), user_id, "test", None
            )
        return Api(self.lockgate.api_url, token)


@pytest.fixture
def admin(lockgate: RunningGateway) -> Api:
    """The instance's first Super admin, as ``lockgate init`` makes them."""
    token = bootstrap_super_admin(lockgate.engine, lockgate.settings.key_bytes(), "admin@example.com")
    assert token is not None
    return Api(lockgate.api_url, token)


@pytest.fixture
def people(lockgate: RunningGateway) -> People:
    return People(lockgate)
