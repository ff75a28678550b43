"""The request step that refuses a feature provisioning withholds (issue 11 items 1, 2, 3 and 7).

``tools/call``, ``prompts/get``, ``resources/read``, ``resources/subscribe`` and
``completion/complete`` (a ``ref/prompt`` or ``ref/resource``) name a feature of the server they are
routed to. The step looks its definition up in the catalog and asks ``Governance`` for the verdict
of the caller's teams; a withheld feature is refused as ``gateway_feature_blocked`` naming the
reason, with the error the client gets for an unknown feature of that kind in its era (-32602; a
legacy ``resources/*`` -32002), "Tool 'x' is not available on this gateway", ``data.reason`` and
nothing of the definition. A feature the catalog does not know passes only under ``allow_all``.

A URI the server lists as a resource is decided by that resource's verdict alone; a URI it does not
list by the templates that match it (``uri_templates.template_pattern``): it passes when one passing
template matches, and is withheld when every matching template is. Under ``allow_all`` for
resources a URI that is neither listed nor matched passes (the server answers for it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from lockgate.dataplane.catalog import Catalog, Entry, ListFeatures
from lockgate.dataplane.credentials import CredentialRefreshError
from lockgate.dataplane.errors import INVALID_PARAMS, RESOURCE_NOT_FOUND, Refusal
from lockgate.dataplane.exchange import Exchange
from lockgate.dataplane.pipeline import Message
from lockgate.dataplane.provisioning import Governance, Verdict
from lockgate.domain.features import FeatureKind
from lockgate.domain.mcp import Era, JsonObject
from lockgate.domain.model import Assignment
from lockgate.domain.provisioning import Mode, Withheld
from lockgate.upstream.base import UpstreamError

log = logging.getLogger(__name__)

BLOCKED_LEG = "gateway_feature_blocked"
NAMED = {"tools/call": FeatureKind.TOOL, "prompts/get": FeatureKind.PROMPT}
BY_URI = frozenset({"resources/read", "resources/subscribe"})
NOUNS = {FeatureKind.TOOL: "Tool", FeatureKind.PROMPT: "Prompt"}
RELIST_SECONDS: Final = 5.0
"""A call to an approved name the catalog does not hold re-lists the server at most this often per
(server, identity, kind): any member could otherwise make every call a listing."""
MAX_RELISTED: Final = 4096


def requested_feature(method: str, params: JsonObject | None) -> tuple[FeatureKind | None, str] | None:
    """The feature a message names, as (kind, upstream name), or (None, uri) for a resource URI;
    None when the method names no feature."""
    params = params or {}
    if method in NAMED and isinstance(name := params.get("name"), str):
        return NAMED[method], name
    if method in BY_URI and isinstance(uri := params.get("uri"), str):
        return None, uri
    ref = params.get("ref")
    if method == "completion/complete" and isinstance(ref, dict):
        if ref.get("type") == "ref/prompt" and isinstance(ref.get("name"), str):
            return FeatureKind.PROMPT, ref["name"]
        if ref.get("type") == "ref/resource" and isinstance(ref.get("uri"), str):
            return None, ref["uri"]
    return None


@dataclass(frozen=True, slots=True)
class EnforceProvisioning:
    """Refuse a message to a feature its assignment's provisioning withholds from the caller."""

    catalog: Catalog
    list_features: ListFeatures
    governance: Governance
    clock: Callable[[], float] = time.monotonic
    _relisted: dict[tuple[int, int, FeatureKind], float] = field(default_factory=dict)

    async def __call__(self, ex: Exchange, message: Message) -> None:
        if message.assignment is None or not message.to_server:
            return
        feature = requested_feature(message.method, message.params)
        if feature is None:
            return
        kind, name = feature
        assignment = message.assignment
        if kind is None:
            reason = await self._uri_reason(ex, assignment, name)
        else:
            reason = await self._named_reason(ex, assignment, kind, name)
        if reason is not None:
            raise _blocked(ex, message.method, kind, ex.feature_name or name, reason, assignment.server.name)

    async def _named_reason(
        self, ex: Exchange, assignment: Assignment, kind: FeatureKind, name: str
    ) -> Withheld | None:
        verdict = await self._verdict(ex, assignment, kind)
        reason = verdict.reason(name)
        if (
            reason is not None
            and not verdict.offered(name)
            and (kind, name) in assignment.provisioning.approvals
            and self._may_relist(assignment, kind)
        ):
            # approved, but the catalog holds an older listing without it: ask the server once more
            self.catalog.forget(assignment.server.id, kind)
            reason = (await self._verdict(ex, assignment, kind)).reason(name)
        return reason

    def _may_relist(self, assignment: Assignment, kind: FeatureKind) -> bool:
        """Whether the server may be listed again now (once per ``RELIST_SECONDS``)."""
        key, now = (assignment.server.id, assignment.identity_key, kind), self.clock()
        last = self._relisted.get(key)
        if last is not None and now - last < RELIST_SECONDS:
            return False
        if len(self._relisted) >= MAX_RELISTED:
            self._relisted.clear()
        self._relisted[key] = now
        return True

    async def _uri_reason(self, ex: Exchange, assignment: Assignment, uri: str) -> Withheld | None:
        """A listed URI is decided by its resource's own verdict; an unlisted one by the templates
        that match it (withheld when every one is); a URI nothing lists or matches passes only under
        ``allow_all`` for resources."""
        resources = await self._verdict(ex, assignment, FeatureKind.RESOURCE)
        if resources.offered(uri):
            return resources.reason(uri)
        templates = await self._verdict(ex, assignment, FeatureKind.RESOURCE_TEMPLATE)
        matched = templates.template_reason(uri)
        if matched is False:
            return None if resources.mode is Mode.ALLOW_ALL else Withheld.NOT_PROVISIONED
        return matched if isinstance(matched, Withheld) else None

    async def _verdict(self, ex: Exchange, assignment: Assignment, kind: FeatureKind) -> Verdict:
        teams = ex.access.principal.teams
        entry = await self._entry(ex, assignment, kind)
        return self.governance.verdict(assignment, kind, teams, entry, ex.access.assignments)

    async def _entry(self, ex: Exchange, assignment: Assignment, kind: FeatureKind) -> Entry | None:
        try:
            return await self.catalog.entry(assignment, kind, ex.client, self.list_features)
        except (UpstreamError, CredentialRefreshError) as exc:
            log.info(
                "server %r could not list its %s to govern a call: %s",
                assignment.server.name,
                kind.value,
                exc,
            )
            return None


def _blocked(
    ex: Exchange, method: str, kind: FeatureKind | None, shown: str, reason: Withheld, server: str
) -> Refusal:
    """The refusal of a withheld feature: the unknown feature's code of its kind and era."""
    legacy_resource = kind is None and ex.era is Era.LEGACY and method in BY_URI
    code = RESOURCE_NOT_FOUND if legacy_resource else INVALID_PARAMS
    noun = NOUNS[kind] if kind is not None else "Resource"
    return Refusal(
        code,
        f"{noun} '{shown}' is not available on this gateway",
        reason.value,
        server=server,
        leg=BLOCKED_LEG,
        hide_server=True,
    )
