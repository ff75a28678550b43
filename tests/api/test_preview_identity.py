"""The features preview as an identity: a server that needs a bearer credential is previewed as the
caller's own identity or, with the right capability, a global one, never as another user's; the
secret never leaves the vault for an answer, an admin event or a log line."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import select

from lockgate.api.errors import Forbidden
from lockgate.api.preview_identity import choose_preview_identity
from lockgate.domain.actor import Actor
from lockgate.domain.capabilities import Capability
from lockgate.domain.model import Availability, IdentityKind
from lockgate.store.identities import create_identity, fetch_identity, mark_needs_reauthorization
from lockgate.store.schema import admin_events, servers
from tests.conftest import SDK_BEARER_TOKEN, TEST_VAULT, Api, People, RunningGateway

TOKEN = SDK_BEARER_TOKEN
WRONG = "not-the-token-77a0"
OPERATOR = "op@example.com"


@pytest.fixture
def locked(admin: Api, sdk_bearer_url: str) -> str:
    created = admin.post("/servers", json={"name": "locked", "transport": "http", "url": sdk_bearer_url})
    assert created.status_code == 201, created.text
    return "locked"


@pytest.fixture
def operator(people: People) -> Api:
    """Adds and previews servers, but does not manage other people's identities nor see them."""
    role = people.role("Operator", [Capability.BASIC_SERVER_MANAGEMENT, Capability.VIEW_ALL_SERVERS])
    return people.user(OPERATOR, role)


def identity(api: Api, name: str, token: str, **fields: Any) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    body = {"server": "locked", "name": name, "kind": "headers", "headers": headers, **fields}
    created = api.post("/identities", json=body)
    assert created.status_code == 201, created.text
    return dict(created.json())


def service_account(lockgate: RunningGateway, token: str, server: str = "locked", name: str = "bot") -> None:
    """A global identity ``name`` (``bot``) for ``server``, owned by nobody."""
    with lockgate.engine.begin() as conn:
        server_id = conn.execute(select(servers.c.id).where(servers.c.name == server)).scalar_one()
        create_identity(
            conn,
            TEST_VAULT,
            name=name,
            server_id=server_id,
            owner_id=None,
            kind=IdentityKind.HEADERS,
            availability=Availability.GLOBAL,
            headers={"Authorization": f"Bearer {token}"},
        )


def preview(api: Api, choice: str | None = None) -> Any:
    return api.get("/servers/locked/features", params={} if choice is None else {"identity": choice})


def test_without_an_identity_the_server_answers_401_and_the_preview_502(admin: Api, locked: str) -> None:
    answer = preview(admin, "none")
    assert answer.status_code == 502
    assert "401" in answer.json()["error"]["message"]


def test_the_preview_runs_as_the_callers_own_identity_before_a_global_one(
    operator: Api, locked: str, lockgate: RunningGateway
) -> None:
    service_account(lockgate, WRONG)
    identity(operator, "op-key", TOKEN)
    for choice in (None, "mine", "op-key"):
        answer = preview(operator, choice)
        assert answer.status_code == 200, (choice, answer.text)
        assert "echo" in {t["name"] for t in answer.json()["tools"]}
        assert answer.json()["identity"] == {
            "name": "op-key",
            "kind": "headers",
            "availability": "private",
            "owner": OPERATOR,
        }


def test_an_administrator_previews_as_the_global_identity(
    admin: Api, locked: str, lockgate: RunningGateway
) -> None:
    service_account(lockgate, TOKEN)
    for choice in (None, "global", "bot"):
        answer = preview(admin, choice)
        assert answer.status_code == 200, (choice, answer.text)
        shown = answer.json()["identity"]
        assert shown == {"name": "bot", "kind": "headers", "availability": "global", "owner": None}


def test_a_member_asking_for_the_global_identity_is_refused(
    people: People, locked: str, lockgate: RunningGateway
) -> None:
    service_account(lockgate, TOKEN)
    refused = preview(people.user("ada@example.com", "Member"), "global")
    assert refused.status_code == 403


def test_a_caller_without_identity_or_server_management_may_not_choose_a_global_identity(
    locked: str, lockgate: RunningGateway
) -> None:
    service_account(lockgate, TOKEN)
    member = Actor(7, "ada@example.com", "Member", frozenset(), frozenset())
    with lockgate.engine.begin() as conn:
        server_id = conn.execute(select(servers.c.id).where(servers.c.name == "locked")).scalar_one()
        assert choose_preview_identity(conn, member, server_id, "locked", None) is None
        for choice in ("global", "bot"):
            with pytest.raises(Forbidden):
                choose_preview_identity(conn, member, server_id, "locked", choice)


def test_another_users_identity_is_refused_and_hidden_from_those_who_do_not_see_it(
    admin: Api, operator: Api, people: People, locked: str
) -> None:
    people.user("alice@example.com", "Member")
    identity(admin, "alice-key", TOKEN, owner="alice@example.com")
    refused = preview(admin, "alice-key")
    assert refused.status_code == 403
    assert "another user's" in refused.json()["error"]["message"]
    hidden = preview(operator, "alice-key")
    assert hidden.status_code == 404
    assert hidden.json()["error"]["message"] == "no identity named 'alice-key'"


def test_a_global_identity_of_a_server_one_may_not_see_is_answered_as_a_name_that_does_not_exist(
    admin: Api, operator: Api, locked: str, sdk_bearer_url: str, lockgate: RunningGateway
) -> None:
    created = admin.post("/servers", json={"name": "hidden", "transport": "http", "url": sdk_bearer_url})
    assert created.status_code == 201, created.text
    service_account(lockgate, TOKEN, server="hidden", name="hidden-bot")
    probed, missing = preview(operator, "hidden-bot"), preview(operator, "no-such-bot")
    assert probed.status_code == missing.status_code == 404
    assert probed.json()["error"]["message"] == "no identity named 'hidden-bot'"
    assert preview(admin, "hidden-bot").status_code == 409  # who sees every identity is told why


def test_asking_for_mine_without_an_identity_is_a_404(operator: Api, locked: str) -> None:
    answer = preview(operator, "mine")
    assert answer.status_code == 404
    assert "no enabled identity" in answer.json()["error"]["message"]


def test_a_disabled_identity_is_not_used_for_a_preview(operator: Api, locked: str) -> None:
    identity(operator, "op-key", TOKEN)
    assert operator.post("/identities/op-key/disable").status_code == 200
    assert preview(operator, "op-key").status_code == 409
    assert preview(operator).json()["error"]["code"] == "upstream_unavailable"  # none left: 401


def test_an_identity_needing_reauthorization_is_refused_naming_where_to_reconnect(
    operator: Api, locked: str, lockgate: RunningGateway
) -> None:
    identity(operator, "op-key", TOKEN)
    with lockgate.engine.begin() as conn:
        mark_needs_reauthorization(conn, fetch_identity(conn, "op-key").id)
    answer = preview(operator, "mine")
    assert answer.status_code == 409
    message = answer.json()["error"]["message"]
    assert "'op-key'" in message and f"{lockgate.settings.resolved_public_url}/connect" in message


def test_the_secret_never_appears_in_the_preview_its_admin_events_or_the_log(
    admin: Api, locked: str, lockgate: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    identity(admin, "bot", TOKEN, availability="global")
    answers = [preview(admin, choice) for choice in (None, "global", "bot")]
    assert all(a.status_code == 200 for a in answers)
    with lockgate.engine.connect() as conn:
        events = [repr(e._mapping) for e in conn.execute(select(admin_events))]
    assert events
    for text in [a.text for a in answers] + events + [caplog.text]:
        assert TOKEN not in text
