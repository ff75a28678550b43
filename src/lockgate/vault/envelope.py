"""Envelope encryption with AES-256-GCM (NIST SP 800-38D), pure over bytes.

Each secret gets its own random 256-bit data key; the secret is encrypted under the data key and the
data key is wrapped (encrypted) under a key-encryption key (KEK) of a numbered version. Rotating
adds a KEK version and re-wraps data keys; old versions keep opening what they wrapped until then.

A sealed value is one ASCII string, ``lgv1.<kek version>.<wrapped data key>.<ciphertext>`` (both
base64url: a 12-byte nonce followed by the GCM output). The associated data binds a value to where
it is stored (e.g. ``servers.7.env.API_KEY``), so a sealed value copied elsewhere does not open.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "lgv1"
KEY_BYTES = 32
NONCE_BYTES = 12


class VaultError(Exception):
    """A sealed value cannot be opened: malformed, an unknown key version, or a wrong key or
    associated data (GCM authentication failed). The message never contains secret material."""


@dataclass(frozen=True, slots=True)
class KeyRing:
    """The key-encryption keys by version; ``current`` wraps new data keys.

    Raises:
        ValueError: no keys, a key that is not 32 bytes, or ``current`` not among them.
    """

    keys: Mapping[int, bytes]
    current: int

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("a key ring needs at least one key")
        if any(len(k) != KEY_BYTES for k in self.keys.values()):
            raise ValueError("key-encryption keys are 32 bytes (AES-256)")
        if self.current not in self.keys:
            raise ValueError(f"the current key version {self.current} is not in the ring")

    def rotated(self, new_key: bytes) -> KeyRing:
        """The ring with ``new_key`` as the next version, now current."""
        version = max(self.keys) + 1
        return KeyRing({**self.keys, version: new_key}, version)


def new_key() -> bytes:
    """A fresh random 256-bit key."""
    return AESGCM.generate_key(bit_length=256)


def seal(ring: KeyRing, plaintext: bytes, aad: bytes) -> str:
    """``plaintext`` encrypted under a new data key wrapped by the ring's current key."""
    data_key = new_key()
    return _join(ring.current, _encrypt(ring.keys[ring.current], data_key, _wrap_aad(ring.current, aad)),
                 _encrypt(data_key, plaintext, aad))  # fmt: skip


def open_sealed(ring: KeyRing, sealed: str, aad: bytes) -> bytes:
    """The plaintext of a sealed value.

    Raises:
        VaultError: see its docstring.
    """
    version, wrapped, ciphertext = _split(sealed)
    return _decrypt(_data_key(ring, version, wrapped, aad), ciphertext, aad)


def rewrap(ring: KeyRing, sealed: str, aad: bytes) -> str:
    """The same value with its data key wrapped by the ring's current key (the ciphertext is kept).

    Raises:
        VaultError: see its docstring.
    """
    version, wrapped, ciphertext = _split(sealed)
    if version == ring.current:
        return sealed
    data_key = _data_key(ring, version, wrapped, aad)
    return _join(ring.current, _encrypt(ring.keys[ring.current], data_key, _wrap_aad(ring.current, aad)),
                 ciphertext)  # fmt: skip


def sealed_version(sealed: str) -> int:
    """The key version that wraps a sealed value.

    Raises:
        VaultError: not a sealed value.
    """
    return _split(sealed)[0]


def _data_key(ring: KeyRing, version: int, wrapped: bytes, aad: bytes) -> bytes:
    kek = ring.keys.get(version)
    if kek is None:
        raise VaultError(f"sealed under key version {version}, which this key ring does not hold")
    return _decrypt(kek, wrapped, _wrap_aad(version, aad))


def _wrap_aad(version: int, aad: bytes) -> bytes:
    return b"lockgate data key|%d|" % version + aad


def _encrypt(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _decrypt(key: bytes, blob: bytes, aad: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
    except InvalidTag as exc:
        raise VaultError("cannot open a sealed value: wrong key, or it belongs elsewhere") from exc


def _join(version: int, wrapped: bytes, ciphertext: bytes) -> str:
    return f"{PREFIX}.{version}.{_b64(wrapped)}.{_b64(ciphertext)}"


def _split(sealed: str) -> tuple[int, bytes, bytes]:
    parts = sealed.split(".")
    if len(parts) != 4 or parts[0] != PREFIX or not parts[1].isdigit():
        raise VaultError("not a sealed value")
    try:
        wrapped, ciphertext = (base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)) for p in parts[2:])
    except ValueError as exc:
        raise VaultError("not a sealed value") from exc
    if len(wrapped) <= NONCE_BYTES or len(ciphertext) <= NONCE_BYTES:
        raise VaultError("not a sealed value")
    return int(parts[1]), wrapped, ciphertext


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")
