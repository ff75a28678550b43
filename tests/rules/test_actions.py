"""The non-blocking actions on the spans a detection found (issue 12 §4)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from lockgate.domain.rules import Action, ActionKind
from lockgate.rules.actions import Span, merged, transform

KEY = b"k" * 32
TEXT = "ssn 078-05-1120 and mail me@example.org."
SSN, MAIL = Span(4, 15, "US_SSN"), Span(25, 39, "EMAIL_ADDRESS")


def test_redact_removes_each_match_and_keeps_the_rest() -> None:
    assert transform(TEXT, [SSN, MAIL], Action(ActionKind.REDACT)) == "ssn  and mail ."


def test_replace_writes_the_typed_tag_of_a_labelled_match_or_the_configured_string() -> None:
    assert transform(TEXT, [MAIL], Action(ActionKind.REPLACE)) == "ssn 078-05-1120 and mail <EMAIL_ADDRESS>."
    assert (
        transform(TEXT, [Span(4, 15)], Action(ActionKind.REPLACE))
        == "ssn [REDACTED] and mail me@example.org."
    )
    assert transform(TEXT, [SSN], Action(ActionKind.REPLACE, replacement="SSN")) == (
        "ssn SSN and mail me@example.org."
    )


def test_mask_keeps_the_visible_tail_and_masks_all_of_a_match_no_longer_than_it() -> None:
    assert transform(TEXT, [SSN], Action(ActionKind.MASK, mask_char="#", visible=4)).startswith(
        "ssn #######1120 "
    )
    assert transform("ab", [Span(0, 2)], Action(ActionKind.MASK, visible=4)) == "**"
    assert transform("abc", [Span(0, 3)], Action(ActionKind.MASK)) == "***"


def test_hash_is_a_keyed_hmac_prefix_so_equal_values_correlate_and_keys_differ() -> None:
    action = Action(ActionKind.HASH, hash_chars=12)
    once = transform("078-05-1120", [Span(0, 11)], action, KEY)
    again = transform("x 078-05-1120", [Span(2, 13)], action, KEY)
    expected = hmac.new(KEY, b"078-05-1120", hashlib.sha256).hexdigest()[:12]
    assert once == "hash:" + expected and again == "x hash:" + expected
    assert transform("078-05-1120", [Span(0, 11)], action, b"o" * 32) != once


def test_overlapping_spans_are_merged_so_nothing_is_transformed_twice() -> None:
    assert merged([Span(5, 9, "B"), Span(0, 6, "A"), Span(7, 7)]) == [Span(0, 9, "A")]
    assert transform("0123456789", [Span(2, 5), Span(4, 8)], Action(ActionKind.MASK)) == "01******89"


def test_block_transforms_nothing_and_hash_without_a_key_is_refused() -> None:
    with pytest.raises(ValueError, match="block"):
        transform(TEXT, [SSN], Action(ActionKind.BLOCK))
    with pytest.raises(ValueError, match="key"):
        transform(TEXT, [SSN], Action(ActionKind.HASH))
