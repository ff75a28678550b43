"""Invisible and deceptive characters in the raw text of a definition.

- Tag characters U+E0000–U+E007F spell ASCII that renders as nothing ("ASCII smuggling", Johann
  Rehberger, Embrace The Red, 2024): ``high``, with the hidden text decoded as evidence.
- Zero-width characters U+200B, U+2060–U+2064, U+FEFF, U+180E and the soft hyphen: ``high``; the
  joiners U+200C/U+200D, which scripts and emoji sequences need, ``medium``.
- Bidirectional controls U+202A–U+202E and U+2066–U+2069 reorder what is shown ("Trojan Source",
  Boucher and Anderson, 2021): ``high``; the marks U+200E, U+200F, U+061C: ``medium``.
- Runs of variation selectors U+E0100–U+E01EF carry bytes behind one visible glyph (Paul Butler,
  "Smuggling arbitrary data through an emoji", 2025): ``high``.
- C0 and C1 controls other than tab and line breaks, among them the ANSI escapes that hide text in a
  terminal (Trail of Bits, "Deceiving users with ANSI terminal codes in MCP", 2025): ``high``.
- Whitespace padding that pushes text out of view (Invariant Labs, WhatsApp MCP): ``high``.
- Words of Latin letters with a non-Latin letter that folds to a Latin one (Cyrillic ``а``, Greek
  ``ο``, fullwidth and mathematical forms; Unicode TR39 confusables, from the ``disarm`` package's copy
  of ``confusables.txt``): ``high`` in names and keys, ``medium`` in prose. Accented Latin and whole
  words of other scripts are not findings.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import Final

import disarm

from lockgate.policy.screening.findings import FeatureRef, Finding, Kind, Severity, quote

_TAGS: Final = re.compile("[\U000e0000-\U000e007f]+")
_ZERO_WIDTH: Final = re.compile("[\u200b\u2060-\u2064\ufeff\u180e\u00ad]+")
_JOINERS: Final = re.compile("[\u200c\u200d]+")
_BIDI_CONTROLS: Final = re.compile("[\u202a-\u202e\u2066-\u2069]+")
_BIDI_MARKS: Final = re.compile("[\u200e\u200f\u061c]+")
_VARIATION_RUN: Final = re.compile("[\U000e0100-\U000e01ef]{2,}")
_CONTROLS: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]+")
_PADDING: Final = re.compile(r"[ \t\u00a0\u3000]{64,}|(?:[ \t]*[\r\n]){16,}")
_WORD: Final = re.compile(r"\w{2,64}")
NAME_LOCATIONS: Final = frozenset({"name", "title", "uri", "uriTemplate", "annotations.title"})
"""Where a confusable is an identity rather than prose, and so withholds."""


def _context(text: str, start: int, end: int) -> str:
    return quote(text[max(0, start - 20) : end + 20])


def find_deceptive_characters(feature: FeatureRef | None, location: str, text: str) -> Iterator[Finding]:
    """Findings of kind ``deceptive_unicode`` in one string of a definition."""
    high, medium = Severity.HIGH, Severity.MEDIUM
    kind = Kind.DECEPTIVE_UNICODE
    if tags := _TAGS.search(text):
        hidden = "".join(chr(ord(char) - 0xE0000) for char in tags.group())
        yield Finding(kind, high, "tag_characters", feature, location, quote(f"hidden text: {hidden}"))
    for pattern, severity, rule in (
        (_ZERO_WIDTH, high, "zero_width"),
        (_JOINERS, medium, "joiner"),
        (_BIDI_CONTROLS, high, "bidi_control"),
        (_BIDI_MARKS, medium, "bidi_mark"),
        (_VARIATION_RUN, high, "variation_selector_run"),
        (_CONTROLS, high, "control_characters"),
    ):
        if found := pattern.search(text):
            yield Finding(kind, severity, rule, feature, location, _context(text, found.start(), found.end()))
    if padding := _PADDING.search(text):
        after = text[padding.end() : padding.end() + 60]
        yield Finding(
            kind, high, "padding", feature, location, quote(f"{len(padding.group())} blank: {after}")
        )
    if not text.isascii():
        yield from _find_confusable_words(feature, location, text)


def _find_confusable_words(feature: FeatureRef | None, location: str, text: str) -> Iterator[Finding]:
    severity = Severity.HIGH if location in NAME_LOCATIONS or location.endswith("{key}") else Severity.MEDIUM
    for word in _WORD.finditer(text):
        value = word.group()
        if value.isascii() or not any("a" <= char.lower() <= "z" for char in value):
            continue
        spoofed = [
            char
            for char, _, prototype in disarm.find_confusables(value)
            if prototype.isascii() and not unicodedata.name(char, "").startswith("LATIN ")
        ]
        if spoofed:
            evidence = quote(f"{value} ({', '.join(f'U+{ord(char):04X}' for char in spoofed[:4])})")
            yield Finding(
                Kind.DECEPTIVE_UNICODE, severity, "mixed_script_confusable", feature, location, evidence
            )
            return
