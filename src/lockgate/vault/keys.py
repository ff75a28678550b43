"""Key rings as text: the owner-only key file ``lockgate init`` writes, or ``LOCKGATE_MASTER_KEY``.

The text is JSON, ``{"current": 2, "keys": {"1": "<base64url>", "2": "<base64url>"}}``, or for the
environment variable also a single base64url key (version 1).
"""

from __future__ import annotations

import base64
import binascii

import orjson

from lockgate.vault.envelope import KeyRing, VaultError


def parse_key_ring(text: str) -> KeyRing:
    """The key ring ``text`` holds.

    Raises:
        VaultError: naming what is wrong, never a key.
    """
    text = text.strip()
    if not text.startswith("{"):
        return KeyRing({1: _key(text)}, 1)
    try:
        data = orjson.loads(text)
        keys = {int(version): _key(value) for version, value in data["keys"].items()}
        ring = KeyRing(keys, int(data["current"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise VaultError('a key ring is {"current": N, "keys": {"N": "<base64url key>"}}') from exc
    except ValueError as exc:
        raise VaultError(str(exc)) from exc
    return ring


def format_key_ring(ring: KeyRing) -> str:
    """The key ring as the key file holds it."""
    keys = {str(v): base64.urlsafe_b64encode(k).decode() for v, k in sorted(ring.keys.items())}
    return orjson.dumps({"current": ring.current, "keys": keys}, option=orjson.OPT_INDENT_2).decode() + "\n"


def _key(value: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise VaultError("a master key is 32 bytes, base64url-encoded") from exc
    if len(key) != 32:
        raise VaultError("a master key is 32 bytes, base64url-encoded")
    return key
