"""``Vault``: JSON values sealed to the place they are stored, and the key check a store carries.

A place is ``<table>.<row id>.<column>`` (e.g. ``identities.7.secret``); it is the associated data
of the seal, so a value copied to another row or column does not open.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from lockgate.vault.envelope import KeyRing, VaultError, open_sealed, rewrap, seal, sealed_version

_CHECK = b"lockgate vault key check"


def place(table: str, row_id: int, column: str) -> bytes:
    """The associated data binding a sealed value to one column of one row."""
    return f"{table}.{row_id}.{column}".encode()


class Vault:
    """Seals and opens JSON values with a ``KeyRing`` (AES-256-GCM envelope encryption).

    ``reload`` (optional) reads the key ring again: a value wrapped by a version this ring lacks
    makes the vault reload once, so a running server follows ``lockgate vault rotate`` without a
    restart.
    """

    def __init__(self, ring: KeyRing, reload: Callable[[], KeyRing] | None = None) -> None:
        self.ring = ring
        self._reload = reload

    def seal(self, value: Any, where: bytes) -> str:
        """``value`` (JSON-serialisable) sealed for ``where`` (see ``place``)."""
        return seal(self.ring, orjson.dumps(value), where)

    def open(self, sealed: str, where: bytes) -> Any:
        """The JSON value sealed for ``where``.

        Raises:
            VaultError: malformed, an unknown key version, a wrong key, or sealed for another place.
        """
        self._follow(sealed)
        return orjson.loads(open_sealed(self.ring, sealed, where))

    def rewrap(self, sealed: str, where: bytes) -> str:
        """The value re-wrapped by the current key version (unchanged when it already is).

        Raises:
            VaultError: as ``open``.
        """
        self._follow(sealed)
        return rewrap(self.ring, sealed, where)

    def _follow(self, sealed: str) -> None:
        if self._reload is not None and sealed_version(sealed) not in self.ring.keys:
            self.ring = self._reload()

    def check_value(self, version: int) -> str:
        """A value sealed with key ``version`` that ``verify`` opens only with the same key."""
        return seal(KeyRing({version: self.ring.keys[version]}, version), _CHECK, b"vault_keys")

    def verify(self, version: int, check: str) -> None:
        """Raises ``VaultError`` unless this ring holds key ``version`` and it opens ``check``.

        Raises:
            VaultError: naming the version; the message never holds a key.
        """
        if version not in self.ring.keys:
            raise VaultError(f"the store was sealed with key version {version}, which the key ring lacks")
        try:
            opened = open_sealed(self.ring, check, b"vault_keys")
        except VaultError:
            opened = b""
        if opened != _CHECK or sealed_version(check) != version:
            raise VaultError(
                f"key version {version} of the key ring is not the key this store was sealed with"
            )
