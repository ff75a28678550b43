"""Concurrent edits of one resource: one wins, the other is told, nothing is silently lost."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.conftest import Api


def _at_once(*calls: Any) -> list[Any]:
    """Run the calls in threads released together by a barrier."""
    barrier = threading.Barrier(len(calls))

    def run(call: Any) -> Any:
        barrier.wait(timeout=10)
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_two_concurrent_updates_from_one_version_let_one_win_and_refuse_the_other(admin: Api) -> None:
    admin.post("/gateways", json={"name": "engineering"})
    version = {"If-Match": admin.get("/gateways/engineering").headers["etag"]}
    answers = _at_once(
        lambda: admin.patch("/gateways/engineering", json={"name": "eng-a"}, headers=version),
        lambda: admin.patch("/gateways/engineering", json={"name": "eng-b"}, headers=version),
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses[0] == 200 and statuses[1] in (404, 409, 412), [a.text for a in answers]
    winner = next(a.json() for a in answers if a.status_code == 200)
    stored = admin.get(f"/gateways/{winner['name']}").json()
    assert stored["version"] == 2
    loser = "eng-b" if winner["name"] == "eng-a" else "eng-a"
    assert admin.get(f"/gateways/{loser}").status_code == 404


def test_concurrent_assignments_lose_nothing_once_the_refused_one_retries(admin: Api) -> None:
    for name in ("time", "docs"):
        admin.post("/servers", json={"name": name, "transport": "stdio", "command": "true"})
    admin.post("/gateways", json={"name": "engineering"})
    version = {"If-Match": admin.get("/gateways/engineering").headers["etag"]}
    answers = _at_once(
        *(
            lambda server=server: admin.post(
                "/gateways/engineering/assignments", json={"server": server}, headers=version
            )
            for server in ("time", "docs")
        )
    )
    assert sorted(a.status_code for a in answers) == [201, 412], [a.text for a in answers]
    refused = next(a for a in answers if a.status_code == 412)
    assert refused.json()["error"]["code"] == "precondition_failed"
    missing = {"time", "docs"} - {s["server"] for s in admin.get("/gateways/engineering").json()["servers"]}
    fresh = {"If-Match": admin.get("/gateways/engineering").headers["etag"]}
    retried = admin.post("/gateways/engineering/assignments", json={"server": missing.pop()}, headers=fresh)
    assert retried.status_code == 201
    assert {s["server"] for s in retried.json()["servers"]} == {"time", "docs"}


def test_without_if_match_each_change_still_applies_atomically_and_bumps_the_version(admin: Api) -> None:
    admin.post("/gateways", json={"name": "engineering"})
    answers = _at_once(*(lambda: admin.post("/gateways/engineering/disable") for _ in range(4)))
    assert all(a.status_code == 200 for a in answers)
    assert admin.get("/gateways/engineering").json()["version"] == 5
