"""Regex rule patterns in JavaScript syntax, run in linear time on RE2 (product spec §2, gateway rules).

A rule's pattern is what MCP Manager's spec says: JavaScript syntax, surrounding slashes optional
(``/abc/i``), flags ``i`` and ``g`` only, several patterns OR-ed. :func:`compile_js` validates each one
exactly with ``regress`` (ECMAScript syntax, no ``u`` flag), translates it (:mod:`lockgate.rules.js_syntax`)
and compiles the alternation on ``google-re2`` with a memory bound, so matching is linear in the text.

Refused at save time (:class:`RegexRefused`, naming the construct): syntax errors, lookahead and
lookbehind, backreferences, the few constructs RE2 would match differently (listed in
:mod:`lockgate.rules.js_syntax`), and every flag but ``i`` and ``g`` (``m``, ``s``, ``u``, ``y``, ``d``,
``v``: refused, not emulated). ``g`` is recorded (:attr:`JsPattern.global_flag`); matching always finds all.

Bounds (``domain.rules.LIMITS``): a text over ``scan_bytes`` in UTF-8 is not scanned
(:class:`ScanTooLarge`), nor is one with more than ``matches_per_text`` matches; ``find`` stops at its
deadline (:class:`ScanTooSlow`), checked every ``CHECK_EVERY`` searches: one search is linear, but a
pattern like ``/a(?:.*b)?/`` makes each of n matches rescan to the end of the text.

Known difference from V8: a text character above U+FFFF is one character here (V8 without ``u`` sees
two UTF-16 units, so ``.`` matches half of it there). Case-insensitive matching follows JS's Canonicalize
as of Python's Unicode tables, which may lag V8's by a version.
"""

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import re2
import regress

from lockgate.domain.rules import LIMITS
from lockgate.rules.js_syntax import RegexRefused, translate

__all__ = [
    "MAX_PROGRAM_BYTES",
    "MAX_SCANNED_BYTES",
    "JsPattern",
    "JsRegex",
    "RegexRefused",
    "ScanTooLarge",
    "ScanTooSlow",
]

MAX_SCANNED_BYTES = LIMITS.scan_bytes  # UTF-8 bytes of text one search may scan; more raises ScanTooLarge
CHECK_EVERY = 16  # searches between two looks at the clock in ``find``
MAX_PROGRAM_BYTES = 8 * 1024 * 1024  # RE2's max_mem: a bigger compiled pattern is refused
ALLOWED_FLAGS = "gi"
FLAG_NAMES = {
    "m": "multiline",
    "s": "dotAll",
    "u": "unicode",
    "y": "sticky",
    "d": "hasIndices",
    "v": "unicodeSets",
}


class ScanTooLarge(ValueError):
    """A text longer than :data:`MAX_SCANNED_BYTES` in UTF-8 (it is not scanned at all), or with more
    matches than ``LIMITS.matches_per_text``."""


class ScanTooSlow(ValueError):
    """A scan (a regex's, Presidio's) passed its deadline; the rest of the text was not scanned."""


@dataclass(frozen=True)
class JsPattern:
    """One pattern as a rule gives it: ``source`` (the text as written), its body and its flags."""

    source: str
    body: str
    ignore_case: bool
    global_flag: bool

    @classmethod
    def parse(cls, source: str) -> "JsPattern":
        """Split ``/body/flags`` (slashes optional) and validate it; raises :class:`RegexRefused`."""
        body, flags = source, ""
        closing = source.rfind("/")
        if source.startswith("/") and closing > 0:
            body, flags = source[1:closing], source[closing + 1 :]
        for flag in flags:
            if flag not in ALLOWED_FLAGS:
                name = FLAG_NAMES.get(flag)
                raise RegexRefused(f"the flag {flag}" + (f" ({name})" if name else ""), source)
        if len(set(flags)) != len(flags):
            raise RegexRefused("a repeated flag", source)
        try:
            regress.Regex(body, "i" if "i" in flags else "")
        except regress.RegressError as error:
            raise RegexRefused(f"invalid JavaScript syntax ({error})", source) from None
        return cls(source, body, "i" in flags, "g" in flags)


class JsRegex:
    """Several JS patterns OR-ed, compiled once on RE2; ``find`` and ``matches`` run in linear time."""

    def __init__(self, patterns: list[JsPattern]) -> None:
        if not patterns:
            raise RegexRefused("an empty pattern list", "")
        self.patterns = patterns
        self.re2_text = "|".join(
            "(?:" + translate(pattern.body, pattern.ignore_case) + ")" for pattern in patterns
        )
        options = re2.Options()
        options.max_mem = MAX_PROGRAM_BYTES
        options.log_errors = False
        try:
            self._compiled = re2.compile(self.re2_text.encode(), options)
        except re2.error as error:
            raise RegexRefused(f"a pattern RE2 cannot compile ({error})", self.re2_text) from None

    def find(self, text: str, deadline: float = math.inf) -> list[tuple[int, int]]:
        """Every match as ``(start, end)`` Python string indices, left to right, as JS ``matchAll`` finds
        them (an empty match moves on by one character).

        Raises:
            ScanTooLarge: ``text`` is over the scan limit, or has over ``LIMITS.matches_per_text``
                matches.
            ScanTooSlow: ``time.perf_counter()`` passed ``deadline`` before the scan ended.
        """
        data = _encode(text)
        counter = _CharIndex(data, ascii_only=len(data) == len(text))
        spans: list[tuple[int, int]] = []
        for start, end in self._matches(data, deadline):
            if len(spans) == LIMITS.matches_per_text:
                raise ScanTooLarge(f"more than {LIMITS.matches_per_text} matches in one text")
            spans.append((counter.at(start), counter.at(end)))
        return spans

    def matches(self, text: str, deadline: float = math.inf) -> bool:
        """Whether any pattern matches anywhere in ``text``; raises :class:`ScanTooLarge` and
        :class:`ScanTooSlow` as ``find`` does."""
        return next(self._matches(_encode(text), deadline), None) is not None

    def _matches(self, data: bytes, deadline: float) -> Iterator[tuple[int, int]]:
        """The matches' byte spans, left to right, each starting on a character: RE2's ``\\B`` also
        holds between the bytes of one UTF-8 character, which JS has no notion of. Raises
        :class:`ScanTooSlow` past ``deadline`` (looked at before the first search, then every
        ``CHECK_EVERY``)."""
        position, searches = 0, 0
        while position <= len(data):
            if searches % CHECK_EVERY == 0 and time.perf_counter() > deadline:
                raise ScanTooSlow(f"the scan was stopped at its deadline, {position} bytes in")
            searches += 1
            match = self._compiled.search(data, position)
            if match is None:
                return
            start, end = match.span()
            if start < len(data) and 0x80 <= data[start] < 0xC0:
                position = start + 1
                continue
            yield start, end
            position = end if end > start else end + _char_length(data, end)


def compile_js(patterns: str | list[str]) -> JsRegex:
    """Compile one rule's pattern text (or list of them, OR-ed); raises :class:`RegexRefused`."""
    sources = [patterns] if isinstance(patterns, str) else patterns
    return JsRegex([JsPattern.parse(source) for source in sources])


def _encode(text: str) -> bytes:
    data = text.encode("utf-8", "surrogatepass")
    if len(data) > MAX_SCANNED_BYTES:
        raise ScanTooLarge(f"text of {len(data)} bytes is above the {MAX_SCANNED_BYTES}-byte scan limit")
    return data


def _char_length(data: bytes, offset: int) -> int:
    """Bytes of the UTF-8 character at ``offset`` (1 at the end)."""
    lead = data[offset] if offset < len(data) else 0
    return 1 if lead < 0xC0 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4


class _CharIndex:
    """Byte offsets to string indices, for offsets asked in non-decreasing order (linear in total)."""

    def __init__(self, data: bytes, ascii_only: bool) -> None:
        self.data = data
        self.ascii_only = ascii_only
        self.byte = 0
        self.char = 0

    def at(self, offset: int) -> int:
        if self.ascii_only:
            return offset
        self.char += len(self.data[self.byte : offset].decode("utf-8", "surrogatepass"))
        self.byte = offset
        return self.char
