"""Translate one JavaScript regex body (no ``u`` flag) into RE2 syntax, refusing what RE2 cannot run.

The body has already passed ``regress``'s exact ECMAScript validation, so this walk only has to know
what each valid construct means (ECMAScript 2024 §22.2 with Annex B, the web-compatible grammar V8
uses without ``u``) and say it in RE2 terms:

- ``.`` excludes ``\\n``, ``\\r``, U+2028 and U+2029; ``\\s`` is the JS whitespace set (with U+00A0,
  U+FEFF, U+1680, U+2000–U+200A, U+202F, U+205F, U+3000); ``\\d``/``\\w`` are ASCII.
- ``^``/``$`` are start/end of text (``\\A``/``\\z``): there is no ``m`` flag.
- ``\\uXXXX`` (a surrogate pair joined into one code point), ``\\xHH``, ``\\cX``, ``\\0``,
  ``\\f\\n\\r\\t\\v``, identity escapes; ``\\u{...}`` without ``u`` is ``u`` repeated, as in V8.
- ``[^]`` matches anything, ``[]`` nothing; ``{`` and ``}`` that are not a quantifier are literal.
- ``(?<n>...)`` becomes ``(?P<n>...)`` (other names: a plain group; only spans are used).
- ``i`` spells out each character's case variants under JS's Canonicalize (no RE2 ``(?i)``).

Refused with :class:`RegexRefused`: lookahead, lookbehind, backreferences (numbered and named, and the
legacy octal escapes Annex B reads from the same digits), group modifiers, lone surrogates, a quantifier
on the second half of a surrogate pair, a quantifier on ``\\b``/``\\B`` (V8 refuses it; ``regress``
accepts it), repetition counts above RE2's 1000, and a group that can match empty and prefers a
shorter choice under a quantifier that is not a fixed count (``(|a)*``, where JS and RE2 disagree).
"""

import re
from bisect import bisect_right
from collections.abc import Iterable
from functools import cache

MAX_CODE_POINT = 0x10FFFF
SURROGATES = (0xD800, 0xDFFF)
MAX_REPEAT = 1000  # RE2's limit on {n,m}

Ranges = list[tuple[int, int]]

DIGIT: Ranges = [(0x30, 0x39)]
WORD: Ranges = [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)]
SPACE: Ranges = [
    (0x09, 0x0D),
    (0x20, 0x20),
    (0xA0, 0xA0),
    (0x1680, 0x1680),
    (0x2000, 0x200A),
    (0x2028, 0x2029),
    (0x202F, 0x202F),
    (0x205F, 0x205F),
    (0x3000, 0x3000),
    (0xFEFF, 0xFEFF),
]
LINE_TERMINATORS: Ranges = [(0x0A, 0x0A), (0x0D, 0x0D), (0x2028, 0x2029)]
CONTROL_ESCAPES = {"f": 0x0C, "n": 0x0A, "r": 0x0D, "t": 0x09, "v": 0x0B}

_QUANTIFIER = re.compile(r"\{(\d+)(?:,(\d*))?\}")
_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")
_HEX2 = re.compile(r"[0-9A-Fa-f]{2}")
_ASCII_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class RegexRefused(ValueError):
    """A pattern that is not valid JavaScript or cannot run in linear time; ``construct`` names why."""

    def __init__(self, construct: str, pattern: str) -> None:
        super().__init__(f"{construct} is not allowed in a rule pattern: {pattern!r}")
        self.construct = construct
        self.pattern = pattern


def complement(ranges: Iterable[tuple[int, int]]) -> Ranges:
    """The code points (0..U+10FFFF) outside ``ranges``, as sorted inclusive ranges."""
    result: Ranges = []
    low = 0
    for start, end in sorted(ranges):
        if start > low:
            result.append((low, start - 1))
        low = max(low, end + 1)
    if low <= MAX_CODE_POINT:
        result.append((low, MAX_CODE_POINT))
    return result


def class_text(ranges: Ranges, negate: bool = False) -> str:
    """An RE2 character class for ``ranges`` (surrogates dropped: they cannot occur in UTF-8)."""
    parts = []
    for start, end in sorted(ranges):
        for low, high in _without_surrogates(start, end):
            parts.append(_code(low) if low == high else f"{_code(low)}-{_code(high)}")
    if not parts:  # [] matches nothing, [^] anything
        return "[\\x{0}-\\x{10ffff}]" if negate else "[^\\x{0}-\\x{10ffff}]"
    if not negate and len(parts) == 2 and not any("-" in part for part in parts):
        # RE2 reads a two-letter class like [Ss] as a case-folded "s", which an alternation around it
        # then widens with U+017F (and [Kk] with U+212A); an alternation of the two keeps them exact
        return f"(?:{parts[0]}|{parts[1]})"
    return ("[^" if negate else "[") + "".join(parts) + "]"


def _canonical(point: int) -> int:
    """ECMAScript Canonicalize without ``u`` (§22.2.2.7.3): toUpperCase when that is one character and
    does not take a non-ASCII character into ASCII."""
    upper = chr(point).upper()
    if len(upper) != 1 or (point >= 128 and ord(upper) < 128):
        return point
    return ord(upper)


@cache
def case_equivalents() -> dict[int, tuple[int, ...]]:
    """Each cased code point to all code points with its canonical form (itself included), for the ``i``
    flag: RE2's Unicode case folding differs from JS's (it folds U+017F with ``s``, U+212A with ``k``,
    U+1E9E with U+00DF...), so the translation spells each case variant out instead."""
    groups: dict[int, list[int]] = {}
    for point in range(0x20000):  # every cased character is below U+20000
        if not SURROGATES[0] <= point <= SURROGATES[1]:
            groups.setdefault(_canonical(point), []).append(point)
    return {point: tuple(group) for group in groups.values() if len(group) > 1 for point in group}


def case_closure(ranges: Ranges) -> Ranges:
    """``ranges`` with every case variant (under JS's ``i``) of each member added."""
    ordered = sorted(ranges)
    starts = [start for start, _ in ordered]
    result = list(ordered)
    for point, group in case_equivalents().items():
        index = bisect_right(starts, point) - 1
        if index >= 0 and point <= ordered[index][1]:
            result.extend((member, member) for member in group)
    return result


def _without_surrogates(start: int, end: int) -> list[tuple[int, int]]:
    low, high = SURROGATES
    pieces = [(start, min(end, low - 1)), (max(start, high + 1), end)]
    return [(a, b) for a, b in pieces if a <= b]


def _code(point: int) -> str:
    char = chr(point)
    return char if char.isascii() and char.isalnum() else f"\\x{{{point:x}}}"


class _Frame:
    """What is known of one group's body so far (for :class:`_Shape`)."""

    def __init__(self) -> None:
        self.alternatives_nullable: list[bool] = []
        self.current = True  # the alternative being read can match empty so far
        self.pending: bool | None = None  # the last atom can match empty (a quantifier may still change it)
        self.choosy = False  # holds an alternation or a lazy quantifier


class _Shape:
    """Tracks which groups can match empty, to refuse the one place JS and RE2 pick different matches:
    JS rejects an iteration of a quantifier that matches empty and backtracks into the next choice
    (ECMAScript RepeatMatcher), RE2 keeps the empty choice. That only differs when a repeated group can
    match empty *and* prefers some choice (an alternation or a lazy quantifier) over a longer one, as in
    ``(|a)*`` or ``(a??)+``; such a group under a quantifier that is not a fixed count is refused."""

    def __init__(self) -> None:
        self.frames = [_Frame()]
        self.last_group: tuple[bool, bool] | None = None  # (nullable, choosy) of a group just closed

    def _fold(self) -> None:
        frame = self.frames[-1]
        if frame.pending is not None:
            frame.current = frame.current and frame.pending
            frame.pending = None

    def atom(self, nullable: bool) -> None:
        self._fold()
        self.frames[-1].pending = nullable
        self.last_group = None

    def open(self) -> None:
        self._fold()
        self.frames.append(_Frame())
        self.last_group = None

    def close(self) -> None:
        self._fold()
        frame = self.frames.pop()
        nullable = frame.current or any(frame.alternatives_nullable)
        self.frames[-1].pending = nullable
        self.frames[-1].choosy |= frame.choosy
        self.last_group = (nullable, frame.choosy)

    def alternate(self) -> None:
        self._fold()
        frame = self.frames[-1]
        frame.alternatives_nullable.append(frame.current)
        frame.current, frame.choosy, self.last_group = True, True, None

    def quantify(self, minimum: int, fixed: bool) -> bool:
        """Whether the repeated group is one JS and RE2 would match differently."""
        frame = self.frames[-1]
        if minimum == 0:
            frame.pending = True
        return not fixed and self.last_group is not None and all(self.last_group)

    def lazy(self) -> None:
        self.frames[-1].choosy = True


class _Translator:
    """One left-to-right walk over a validated body; ``translate`` returns the RE2 text."""

    def __init__(self, body: str, ignore_case: bool) -> None:
        self.body = body
        self.ignore_case = ignore_case
        self.pos = 0
        self.out: list[str] = []
        self.has_names = re.search(r"\(\?<[^=!]", body) is not None
        self.shape = _Shape()
        self.names: set[str] = set()
        self.after_quantifier = False

    def refuse(self, construct: str) -> RegexRefused:
        return RegexRefused(construct, self.body)

    def translate(self) -> str:
        body = self.body
        while self.pos < len(body):
            char = body[self.pos]
            self.follow_shape(char)
            if char == "\\":
                self.out.append(self.atom_escape())
            elif char == "[":
                self.out.append(self.character_class())
            elif char == "(":
                self.out.append(self.group_open())
            elif char == "{":
                self.out.append(self.brace())
            else:
                self.pos += 1
                self.out.append(self.plain(char))
        return "".join(self.out)

    def follow_shape(self, char: str) -> None:
        """Tell :class:`_Shape` about the token at ``pos``, refusing a repeated empty-preferring group."""
        after_quantifier, self.after_quantifier = self.after_quantifier, False
        quantifier = _QUANTIFIER.match(self.body, self.pos) if char == "{" else None
        if char == "?" and after_quantifier:
            self.shape.lazy()
        elif char in "*+?" or quantifier:
            self.after_quantifier = True
            low, high = quantifier.groups() if quantifier else ("1" if char == "+" else "0", None)
            fixed = quantifier is not None and high in (None, low)  # {n} or {n,n}
            if self.shape.quantify(int(low), fixed):
                raise self.refuse("a repeated group that can match empty and prefers a shorter choice")
        elif char == "(":
            self.shape.open()
        elif char == ")":
            self.shape.close()
        elif char == "|":
            self.shape.alternate()
        else:
            zero_width = char in "^$" or (char == "\\" and self.body[self.pos + 1] in "bB")
            self.shape.atom(nullable=zero_width)

    def plain(self, char: str) -> str:
        if char in ")|*+?":
            return char
        if char == ".":
            return self.class_text(LINE_TERMINATORS, negate=True)
        if char == "^":
            return "\\A"
        if char == "$":
            return "\\z"
        return self.literal(ord(char))

    def literal(self, point: int) -> str:
        if SURROGATES[0] <= point <= SURROGATES[1]:
            raise self.refuse(f"the lone surrogate U+{point:04X}")
        variants = case_equivalents().get(point) if self.ignore_case else None
        return class_text([(member, member) for member in variants]) if variants else _code(point)

    def class_text(self, ranges: Ranges, negate: bool = False) -> str:
        """A class matching as JS's would: under ``i`` a member matches in every case (also negated)."""
        return class_text(case_closure(ranges) if self.ignore_case else ranges, negate)

    def brace(self) -> str:
        quantifier = _QUANTIFIER.match(self.body, self.pos)
        if quantifier is None:  # Annex B: a brace that is not a quantifier is literal
            self.pos += 1
            return "\\{"
        counts = [int(n) for n in quantifier.groups() if n]
        if any(n > MAX_REPEAT for n in counts):
            raise self.refuse(f"the repetition count {quantifier.group(0)} (above {MAX_REPEAT})")
        self.pos = quantifier.end()
        return quantifier.group(0)

    def group_open(self) -> str:
        body, start = self.body, self.pos
        if not body.startswith("(?", start):
            self.pos += 1
            return "("
        for prefix, construct in (("(?=", "lookahead (?="), ("(?!", "negative lookahead (?!")):
            if body.startswith(prefix, start):
                raise self.refuse(construct)
        for prefix, construct in (("(?<=", "lookbehind (?<="), ("(?<!", "negative lookbehind (?<!")):
            if body.startswith(prefix, start):
                raise self.refuse(construct)
        if body.startswith("(?:", start):
            self.pos += 3
            return "(?:"
        if body.startswith("(?<", start):
            end = body.index(">", start)
            name = body[start + 3 : end]
            if name in self.names:  # regress accepts it; V8 only across alternatives (ES2025)
                raise self.refuse(f"the repeated group name {name}")
            self.names.add(name)
            self.pos = end + 1
            return f"(?P<{name}>" if _ASCII_NAME.fullmatch(name) else "("
        raise self.refuse("the group modifier " + body[start : start + 4])

    def atom_escape(self) -> str:
        body, start = self.body, self.pos
        letter = body[start + 1]
        sets = {"d": DIGIT, "w": WORD, "s": SPACE}
        if letter.lower() in sets:
            self.pos += 2
            return self.class_text(sets[letter.lower()], negate=letter.isupper())
        if letter in "bB":
            self.pos += 2
            if self.body[self.pos : self.pos + 1] in ("*", "+", "?") or _QUANTIFIER.match(
                self.body, self.pos
            ):
                raise self.refuse(f"a quantifier on the assertion \\{letter}")  # V8 refuses it, regress not
            return "\\" + letter
        if letter.isdigit() and letter != "0":
            raise self.refuse(f"the backreference \\{letter}")
        if letter == "k" and self.has_names:
            raise self.refuse("the named backreference \\k")
        return self.literal(self.character_escape(in_class=False))

    def character_escape(self, in_class: bool) -> int:
        """The code point of the escape at ``pos`` (a ``\\``), moving past it."""
        body, start = self.body, self.pos
        letter = body[start + 1]
        self.pos = start + 2
        if letter in CONTROL_ESCAPES:
            return CONTROL_ESCAPES[letter]
        if letter == "0":
            if body[self.pos : self.pos + 1].isdigit():
                raise self.refuse("the legacy octal escape \\0" + body[self.pos])
            return 0
        if letter.isdigit():
            raise self.refuse(f"the legacy octal escape \\{letter}")
        if letter == "c":
            return self.control_letter(in_class)
        if letter == "x" and _HEX2.match(body, self.pos):
            self.pos += 2
            return int(body[self.pos - 2 : self.pos], 16)
        if letter == "u" and _HEX4.match(body, self.pos):
            return self.unicode_escape()
        return ord(letter)  # identity escape (Annex B): \u, \x, \k, \p... without their forms

    def control_letter(self, in_class: bool) -> int:
        following = self.body[self.pos : self.pos + 1]
        if following.isascii() and (
            following.isalpha() or (in_class and (following.isdigit() or following == "_"))
        ):
            self.pos += 1
            return ord(following) % 32
        self.pos -= 1  # Annex B: a backslash, then "c" read as an ordinary character
        return ord("\\")

    def unicode_escape(self) -> int:
        body = self.body
        point = int(body[self.pos : self.pos + 4], 16)
        self.pos += 4
        low = body[self.pos + 2 : self.pos + 6]
        if 0xD800 <= point <= 0xDBFF and body.startswith("\\u", self.pos) and _HEX4.fullmatch(low):
            trail = int(low, 16)
            if 0xDC00 <= trail <= 0xDFFF:
                self.pos += 6
                if self.body[self.pos : self.pos + 1] in ("*", "+", "?", "{"):
                    raise self.refuse("a quantifier on the second half of a surrogate pair")
                return 0x10000 + ((point - 0xD800) << 10) + (trail - 0xDC00)
        return point

    def character_class(self) -> str:
        body = self.body
        self.pos += 1
        negate = body.startswith("^", self.pos)
        self.pos += negate
        ranges: Ranges = []
        while body[self.pos] != "]":
            atom = self.class_atom()
            if isinstance(atom, list):
                ranges.extend(atom)
                if body[self.pos] == "-":  # Annex B: [\d-x] is \d, "-", x
                    ranges.append((0x2D, 0x2D))
                    self.pos += 1
                continue
            if body[self.pos] == "-" and body[self.pos + 1] != "]":
                self.pos += 1
                mark = self.pos
                end = self.class_atom()
                if isinstance(end, int):
                    ranges.append((atom, end))
                    continue
                ranges.extend([(atom, atom), (0x2D, 0x2D)])  # [x-\d] is x, "-", \d
                self.pos = mark
                continue
            ranges.append((atom, atom))
        self.pos += 1
        for start, end in ranges:
            if start == end and SURROGATES[0] <= start <= SURROGATES[1]:
                raise self.refuse(f"the lone surrogate U+{start:04X}")
        return self.class_text(ranges, negate)

    def class_atom(self) -> int | Ranges:
        body = self.body
        char = body[self.pos]
        if char != "\\":
            self.pos += 1
            return ord(char)
        letter = body[self.pos + 1]
        sets = {"d": DIGIT, "w": WORD, "s": SPACE}
        if letter.lower() in sets:
            self.pos += 2
            chosen = sets[letter.lower()]
            return complement(chosen) if letter.isupper() else list(chosen)
        if letter == "b":
            self.pos += 2
            return 0x08
        if letter == "-":
            self.pos += 2
            return 0x2D
        return self.character_escape(in_class=True)


def translate(body: str, ignore_case: bool) -> str:
    """The RE2 text for a ``regress``-validated JS regex body (``ignore_case``: the ``i`` flag, spelled
    out as case variants, not RE2's folding); raises :class:`RegexRefused`."""
    return _Translator(body, ignore_case).translate()
