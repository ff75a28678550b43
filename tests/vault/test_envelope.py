"""Envelope encryption: values open only with their key and place; rotation re-wraps without loss."""

from __future__ import annotations

import pytest

from lockgate.vault.envelope import KeyRing, VaultError, new_key, open_sealed, rewrap, seal, sealed_version
from lockgate.vault.keys import format_key_ring, parse_key_ring

AAD = b"servers.7.env.API_KEY"


def test_a_sealed_value_opens_with_its_key_and_place_and_holds_no_plaintext() -> None:
    ring = KeyRing({1: new_key()}, 1)
    sealed = seal(ring, b"sk-live-123", AAD)
    assert "sk-live-123" not in sealed and sealed.startswith("lgv1.1.")
    assert open_sealed(ring, sealed, AAD) == b"sk-live-123"
    assert seal(ring, b"sk-live-123", AAD) != sealed  # a fresh data key and nonce every time


def test_a_wrong_key_or_another_place_is_refused_without_saying_the_secret() -> None:
    ring = KeyRing({1: new_key()}, 1)
    sealed = seal(ring, b"sk-live-123", AAD)
    with pytest.raises(VaultError, match="wrong key"):
        open_sealed(KeyRing({1: new_key()}, 1), sealed, AAD)
    with pytest.raises(VaultError, match="belongs elsewhere"):
        open_sealed(ring, sealed, b"servers.8.env.API_KEY")


@pytest.mark.parametrize(
    "garbage", ["", "plain text", "lgv1.x.a.b", "lgv1.1.!!.??", "lgv2.1.AAAA.AAAA", "lgv1.1.AA.AA"]
)
def test_malformed_values_are_refused(garbage: str) -> None:
    with pytest.raises(VaultError, match="not a sealed value"):
        open_sealed(KeyRing({1: new_key()}, 1), garbage, AAD)


def test_after_rotation_old_values_still_open_and_rewrapping_moves_them_to_the_new_version() -> None:
    ring = KeyRing({1: new_key()}, 1)
    old = seal(ring, b"secret", AAD)
    rotated = ring.rotated(new_key())
    assert rotated.current == 2
    assert open_sealed(rotated, old, AAD) == b"secret"
    moved = rewrap(rotated, old, AAD)
    assert sealed_version(moved) == 2
    assert open_sealed(KeyRing({2: rotated.keys[2]}, 2), moved, AAD) == b"secret"
    assert moved.split(".")[3] == old.split(".")[3]  # only the data key was re-wrapped
    assert rewrap(rotated, moved, AAD) == moved


def test_a_value_whose_key_version_is_gone_names_the_version() -> None:
    ring = KeyRing({1: new_key()}, 1).rotated(new_key())
    sealed = seal(KeyRing({1: ring.keys[1]}, 1), b"x", AAD)
    with pytest.raises(VaultError, match="key version 1"):
        open_sealed(KeyRing({2: ring.keys[2]}, 2), sealed, AAD)


def test_key_rings_round_trip_through_their_text_and_bad_text_is_refused() -> None:
    ring = KeyRing({1: new_key()}, 1).rotated(new_key())
    assert parse_key_ring(format_key_ring(ring)) == ring
    single = parse_key_ring(format_key_ring(ring).split('"1": "')[1].split('"')[0])
    assert single == KeyRing({1: ring.keys[1]}, 1)
    for bad in ("short", '{"current": 3, "keys": {"1": "' + "A" * 43 + '"}}', "{nope"):
        with pytest.raises(VaultError):
            parse_key_ring(bad)
    with pytest.raises(ValueError):
        KeyRing({}, 1)
