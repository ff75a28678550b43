"""Secret redaction: what is stored or logged never carries a secret value."""

from __future__ import annotations

import random
import re

import orjson
import pytest

from lockgate.domain.redaction import (
    REDACTED,
    is_secret_header,
    is_secret_key,
    may_hold_secret_keys,
    redact,
    redact_headers,
)

SECRET_KEYS = [
    "authorization",
    "Authorization",
    "Proxy-Authorization",
    "cookie",
    "Set-Cookie",
    "password",
    "PASSWORD",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "client_secret",
    "clientSecret",
    "apiKey",
    "api_key",
    "X-Api-Key",
    "private_key",
    "privateKey",
    "credential",
    "credentials",
    "aws_credential",
    "Mcp-Session-Id",
    "bearer",
    "token",
    "access_token",
    "refresh-token",
    "idToken",
    "DB_PASSWORD",
    "x_custom_auth",
    "customAuth",
    "webhook_signature",
    "sessionId",
    "aws_secret_key",
    "accessKey",
    "session_cookie",
]

ORDINARY_KEYS = [
    "progressToken",
    "progress_token",
    "maxTokens",
    "max_tokens",
    "nextToken",
    "nextCursor",
    "cursor",
    "name",
    "arguments",
    "inputTokens",
    "keywords",
    "author",
]


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_secret_key_is_recognised_whatever_its_case_and_separators(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ORDINARY_KEYS)
def test_ordinary_protocol_key_is_not_taken_for_a_secret(key: str) -> None:
    assert not is_secret_key(key)


def test_secret_values_are_replaced_at_any_depth() -> None:
    body = {
        "method": "tools/call",
        "params": {
            "name": "login",
            "arguments": {"user": "ada", "password": "hunter2"},
            "items": [{"nested": {"access_token": "tok-1"}}, {"client_secret": "cs-1"}],
        },
    }

    redacted = redact(body)

    assert redacted == {
        "method": "tools/call",
        "params": {
            "name": "login",
            "arguments": {"user": "ada", "password": REDACTED},
            "items": [{"nested": {"access_token": REDACTED}}, {"client_secret": REDACTED}],
        },
    }


def test_a_secret_key_holding_an_object_is_replaced_whole() -> None:
    assert redact({"credentials": {"user": "ada", "pin": 1234}}) == {"credentials": REDACTED}


def test_progress_tokens_limits_and_cursors_are_kept() -> None:
    body = {
        "params": {"_meta": {"progressToken": "p-1"}, "maxTokens": 100, "cursor": "c"},
        "result": {"nextCursor": "n-1", "nextToken": "t"},
    }

    assert redact(body) == body


def test_redaction_leaves_the_original_value_untouched() -> None:
    body = {"arguments": {"password": "hunter2"}, "list": [{"token": "t"}]}
    before = orjson.dumps(body)

    redact(body)

    assert orjson.dumps(body) == before


@pytest.mark.parametrize("value", [None, 1, 1.5, True, "password", ["token", "secret"]])
def test_scalars_and_lists_of_scalars_pass_unchanged(value: object) -> None:
    assert redact(value) == value


def test_secret_headers_are_redacted_and_others_kept() -> None:
    headers = [
        ("Authorization", "Bearer abc"),
        ("Cookie", "sid=1"),
        ("Mcp-Session-Id", "s-1"),
        ("X-Api-Key", "k-1"),
        ("Content-Type", "application/json"),
        ("Mcp-Method", "tools/call"),
    ]

    assert redact_headers(headers) == {
        "Authorization": REDACTED,
        "Cookie": REDACTED,
        "Mcp-Session-Id": REDACTED,
        "X-Api-Key": REDACTED,
        "Content-Type": "application/json",
        "Mcp-Method": "tools/call",
    }


@pytest.mark.parametrize(
    "name",
    [
        "X-Custom-Auth",
        "X-Upstream-Token",
        "X-Hub-Signature-256",
        "X-Session",
        "X-Service-Credential",
        "X-Access-Key",
        "X-Passcode",
        "X-Secret",
        "x_custom_auth",
        "X-AUTH",
    ],
)
def test_a_header_whose_name_contains_an_auth_like_word_is_redacted(name: str) -> None:
    assert is_secret_header(name)
    assert redact_headers([(name, "planted-value"), ("Accept", "*/*")]) == {name: REDACTED, "Accept": "*/*"}


@pytest.mark.parametrize(
    "name",
    [
        "Content-Type",
        "Content-Length",
        "Accept",
        "User-Agent",
        "Host",
        "Keep-Alive",
        "Mcp-Protocol-Version",
        "Mcp-Method",
        "Mcp-Name",
        "Traceparent",
        "X-Correlation-Id",
    ],
)
def test_an_ordinary_header_is_kept(name: str) -> None:
    assert not is_secret_header(name)


def _bodies_holding(key: str) -> list[bytes]:
    return [
        orjson.dumps({key: "s3cr3t"}),
        orjson.dumps({"params": {"arguments": [{"deep": {key: 1}}]}}),
        orjson.dumps([{"x": {key: None}}]),
    ]


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_pre_check_never_clears_a_body_that_holds_a_secret_key(key: str) -> None:
    for raw in _bodies_holding(key):
        assert may_hold_secret_keys(raw), raw


@pytest.mark.parametrize(
    "raw",
    [
        b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}',
        b'{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"get_time"}],"nextCursor":"abc"}}',
        b"[]",
        b"",
    ],
)
def test_pre_check_clears_a_body_with_nothing_secret_looking(raw: bytes) -> None:
    assert not may_hold_secret_keys(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"\\u0070assword": "hunter2"}',  # decodes to "password"
        b'{"to_ken": "t"}',  # is_secret_key normalizes it to "token"
        b'{"se-cret": "s"}',
        orjson.dumps({"api\u212aey": "k"}),  # KELVIN SIGN lowers to "k": "apikey"
    ],
)
def test_pre_check_never_clears_a_body_whose_keys_only_decode_to_a_secret(raw: bytes) -> None:
    assert any(is_secret_key(k) for k in orjson.loads(raw))
    assert may_hold_secret_keys(raw)


def _spread(word: str) -> bytes:
    """``word`` in alternating case with ``-`` and ``_`` between its letters: ``AuTh`` → ``A-u_T-h``."""
    letters = [c.upper() if i % 2 == 0 else c for i, c in enumerate(word)]
    return b"".join(c.encode() + (b"-_"[i % 2 : i % 2 + 1]) for i, c in enumerate(letters))[:-1]


@pytest.mark.parametrize("hint", ["auth", "cookie", "pass", "pwd", "secret", "key", "token", "credential"])
def test_pre_check_finds_a_hint_in_any_case_with_dashes_and_underscores_between_its_letters(
    hint: str,
) -> None:
    for raw in (b'{"' + _spread(hint) + b'": 1}', b'{"x": 1, "' + _spread("x" + hint) + b'": 1}'):
        assert may_hold_secret_keys(raw), raw


def test_pre_check_agrees_with_a_case_insensitive_search_of_the_body_without_dashes_and_underscores() -> None:
    hints = [b"auth", b"cookie", b"pass", b"pwd", b"secret", b"key", b"token", b"credential", b"bearer"]
    hints += [b"session", b"signature"]
    reference = re.compile(b"|".join(hints), re.IGNORECASE)  # what the pre-check promises
    pick = random.Random(7)
    pieces = [h[i:j] for h in hints for i in range(len(h)) for j in range(i + 1, len(h) + 1)]
    pieces += [b"-", b"_", b'"', b"{", b":", b"x", b"Q"]
    outcomes = set()
    for _ in range(3000):
        chosen = (pick.choice(pieces) for _ in range(pick.randrange(1, 6)))
        raw = b"".join(p.upper() if pick.random() < 0.5 else p for p in chosen)
        expected = reference.search(raw.replace(b"-", b"").replace(b"_", b"")) is not None
        assert may_hold_secret_keys(raw) is expected, raw
        outcomes.add(expected)
    assert outcomes == {True, False}
