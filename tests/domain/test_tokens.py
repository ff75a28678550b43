"""API tokens: random, long, and stored only as a keyed hash."""

from __future__ import annotations

from lockgate.domain.tokens import TOKEN_PREFIX, hash_token, mint_token


def test_minted_tokens_and_public_ids_are_distinct() -> None:
    minted = [mint_token() for _ in range(200)]

    assert len({public_id for public_id, _ in minted}) == len(minted)
    assert len({token for _, token in minted}) == len(minted)


def test_a_token_carries_the_prefix_and_256_random_bits() -> None:
    public_id, token = mint_token()

    assert token.startswith(TOKEN_PREFIX)
    assert len(token) - len(TOKEN_PREFIX) >= 43  # 32 bytes in URL-safe base64
    assert public_id.startswith("tok_")
    assert token.removeprefix(TOKEN_PREFIX) not in public_id


def test_the_hash_is_stable_under_one_key() -> None:
    _, token = mint_token()

    assert hash_token(b"k" * 32, token) == hash_token(b"k" * 32, token)


def test_the_hash_depends_on_the_key() -> None:
    _, token = mint_token()

    assert hash_token(b"a" * 32, token) != hash_token(b"b" * 32, token)


def test_the_hash_depends_on_the_token_and_does_not_reveal_it() -> None:
    (_, first), (_, second) = mint_token(), mint_token()
    key = b"instance-key"

    assert hash_token(key, first) != hash_token(key, second)
    assert first not in hash_token(key, first)
    assert len(hash_token(key, first)) == 64  # hex SHA-256
