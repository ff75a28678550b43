"""The traffic log: every leg of every message through the gateways, newest first.

The pull API for logs. Entries are as stored: ``body`` and ``headers`` were redacted when written
(secrets never reach the store), so nothing here reveals a secret. A reader sees the entries of the
gateways they may use; "View all logs" lifts that scope.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from lockgate.api.operation import Context, Operation
from lockgate.api.operations.common import ListInput, Page
from lockgate.domain.capabilities import Capability
from lockgate.policy.access_control import resolve_visible_logs
from lockgate.store.audit_log import load_entry_page
from lockgate.store.rows import as_dict


class AuditEntry(BaseModel):
    """One leg; the legs of one message share its ``correlation_id``."""

    id: int
    correlation_id: str
    type: str = Field(
        description="'<leg>_success' or '<leg>_error', or 'gateway_refused', 'gateway_feature_blocked', "
        "'gateway_feature_filtered', 'policy_enforced_abort'."
    )
    created_at: float
    method: str | None
    feature_name: str | None
    user_email: str | None
    host: str | None
    gateway: str | None
    server: str | None
    status: int | None = Field(description="HTTP status of proxy legs; JSON-RPC error code of failures.")
    duration_ms: float | None
    error: str | None
    body: str | None = Field(description="JSON text, secrets replaced by [REDACTED].")
    headers: str | None = Field(description="JSON text, secrets replaced by [REDACTED].")
    rules: str | None = Field(
        None,
        description="JSON text: what gateway rules did on this leg, a list of {id, rule, action, "
        "matches} (never the matched text).",
    )


class LogList(ListInput):
    correlation_id: str | None = Field(None, max_length=36)
    gateway: str | None = Field(None, max_length=128)
    server: str | None = Field(None, max_length=128)
    user: str | None = Field(None, max_length=320, description="The acting user's email.")
    method: str | None = Field(None, max_length=128, description="A JSON-RPC method, e.g. 'tools/call'.")
    type: str | None = Field(None, max_length=40)
    since: float | None = Field(None, ge=0, description="Only entries at or after this time (epoch seconds).")


def list_logs(ctx: Context, args: LogList) -> Page[AuditEntry]:
    """Audit entries of the gateways the caller may use (every entry with "View all logs"), newest
    first; each filter keeps the entries whose field equals it."""
    equal = {
        "correlation_id": args.correlation_id,
        "gateway": args.gateway,
        "server": args.server,
        "user_email": args.user,
        "method": args.method,
        "type": args.type,
    }
    with ctx.transaction() as conn:
        rows, cursor = load_entry_page(
            conn,
            on_gateways=resolve_visible_logs(ctx.actor),
            equal=equal,
            since=args.since,
            cursor=args.cursor,
            limit=args.limit,
        )
    return Page[AuditEntry](items=[AuditEntry.model_validate(as_dict(r)) for r in rows], next_cursor=cursor)


OPERATIONS = [
    Operation("logs", "list", "GET", "/logs", "List the traffic log", Capability.VIEW_AND_EXPORT_LOGS,
              list_logs, LogList, Page[AuditEntry],
              columns=("created_at", "type", "method", "user_email", "gateway")),
]  # fmt: skip
