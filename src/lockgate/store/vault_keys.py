"""The key versions a store was sealed with, each with a check value only that key opens.

A store opened with a wrong or missing key is refused at startup instead of failing on the first
secret it reads (or, worse, on none because nothing is sealed yet).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Column, Connection, Table, insert, select, update

from lockgate.store.schema import (
    hosts,
    identities,
    oauth_authorizations,
    oauth_clients,
    servers,
    vault_keys,
    webhook_deliveries,
)
from lockgate.store.servers import SECRETS_PLACE
from lockgate.vault import Vault, place
from lockgate.vault.envelope import sealed_version

Place = Callable[[int], bytes]


def _by_row(table: Table, column: str) -> tuple[Table, Column[str], Place]:
    return table, table.c[column], lambda row_id: place(table.name, row_id, column)


SEALED_COLUMNS: tuple[tuple[Table, Column[str], Place], ...] = (
    (servers, servers.c.secrets, lambda _row_id: SECRETS_PLACE),
    _by_row(identities, "secret"),
    _by_row(oauth_clients, "secret"),
    _by_row(oauth_authorizations, "secret"),
    _by_row(hosts, "webhook_secret"),
    _by_row(webhook_deliveries, "payload"),
)
"""Every column holding sealed values, with the place each row's value is sealed for."""


def verify_key_ring(conn: Connection, vault: Vault) -> None:
    """Check every recorded key version against ``vault``; record the versions it adds.

    Raises:
        VaultError: a recorded version is missing from the ring or holds another key.
    """
    recorded = dict(conn.execute(select(vault_keys.c.version, vault_keys.c.check_value)).all())
    for version, check in recorded.items():
        vault.verify(version, check)
    for version in sorted(set(vault.ring.keys) - set(recorded)):
        conn.execute(
            insert(vault_keys).values(
                version=version, check_value=vault.check_value(version), created_at=time.time()
            )
        )


def rewrap_all(conn: Connection, vault: Vault) -> dict[int, int]:
    """Re-wrap every sealed value with the current key version (the ciphertexts stay; only data
    keys are re-wrapped). Returns how many values each old version wrapped.

    Raises:
        VaultError: a value does not open (a version the ring lacks, or tampered data).
    """
    moved: dict[int, int] = {}
    for table, column, where in SEALED_COLUMNS:
        for row_id, sealed in conn.execute(select(table.c.id, column).where(column.is_not(None))).all():
            version = sealed_version(sealed)
            if version == vault.ring.current:
                continue
            conn.execute(
                update(table)
                .where(table.c.id == row_id)
                .values({column: vault.rewrap(sealed, where(row_id))})
            )
            moved[version] = moved.get(version, 0) + 1
    return moved


def count_by_version(conn: Connection) -> dict[int, int]:
    """How many sealed values each key version wraps."""
    counts: dict[int, int] = {}
    for _table, column, _place in SEALED_COLUMNS:
        for (sealed,) in conn.execute(select(column).where(column.is_not(None))).all():
            version = sealed_version(sealed)
            counts[version] = counts.get(version, 0) + 1
    return counts
