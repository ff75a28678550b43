"""Rule patterns in JavaScript syntax: what is refused at save time, how JS meaning survives on RE2, and
that catastrophic patterns run in linear time."""

import pytest

from lockgate.domain.rules import LIMITS
from lockgate.rules.regex import (
    CHECK_EVERY,
    MAX_SCANNED_BYTES,
    RegexRefused,
    ScanTooLarge,
    ScanTooSlow,
    compile_js,
)

MEGABYTE = 1024 * 1024


def refusal(pattern: str | list[str]) -> str:
    with pytest.raises(RegexRefused) as caught:
        compile_js(pattern)
    return caught.value.construct


@pytest.mark.parametrize(
    ("pattern", "construct"),
    [
        ("(abc", "Unbalanced parenthesis"),
        ("a**", "invalid JavaScript syntax"),
        ("/[b-a]/", "invalid JavaScript syntax"),
        ("x{2,1}", "invalid JavaScript syntax"),
    ],
)
def test_a_syntax_error_is_refused_naming_what_is_wrong(pattern: str, construct: str) -> None:
    assert construct in refusal(pattern)


@pytest.mark.parametrize(
    ("pattern", "construct"),
    [
        ("a(?=b)", "lookahead (?="),
        ("a(?!b)", "negative lookahead (?!"),
        ("(?<=a)b", "lookbehind (?<="),
        ("(?<!a)b", "negative lookbehind (?<!"),
        (r"(a)\1", "backreference \\1"),
        (r"(?<word>a)\k<word>", "named backreference \\k"),
        (r"\01", "legacy octal escape \\01"),
        (r"[\1]", "legacy octal escape \\1"),
        ("(?i:a)", "group modifier (?i:"),
        ("(((?<n>a))(a|(?<n>a)))", "repeated group name n"),  # regress accepts it, V8 does not
        ("(?<n>a)|(?<n>b)", "repeated group name n"),
        (r"\uD800", "lone surrogate U+D800"),
        ("a{1001}", "repetition count {1001}"),
        (r"\uD83D\uDE00+", "quantifier on the second half of a surrogate pair"),
        (r"\b*", "quantifier on the assertion \\b"),
        (r"\B{2}", "quantifier on the assertion \\B"),
        ("/a/m", "flag m (multiline)"),
        ("/a/s", "flag s (dotAll)"),
        ("/a/u", "flag u (unicode)"),
        ("/a/y", "flag y (sticky)"),
        ("/a/d", "flag d (hasIndices)"),
        ("/a/v", "flag v (unicodeSets)"),
        ("/a/ii", "repeated flag"),
    ],
)
def test_what_cannot_run_in_linear_time_or_is_not_js_without_u_is_refused_by_name(
    pattern: str, construct: str
) -> None:
    assert construct in refusal(pattern)


@pytest.mark.parametrize("pattern", ["(|a)*", "(a??)+", "(?:a?|b)*", "((a|)b*)*", "(|a){1,2}", "(|a)?"])
def test_a_repeated_group_that_can_match_empty_and_prefers_a_shorter_choice_is_refused(pattern: str) -> None:
    """JS refuses an empty iteration and tries the next choice; RE2 keeps the empty one."""
    assert "can match empty and prefers a shorter choice" in refusal(pattern)


@pytest.mark.parametrize("pattern", ["(a*)*b", "(|a){2}", "(?:a|)b", "(a|b)*", "(a*?b)+"])
def test_repeated_groups_that_match_alike_in_js_and_re2_are_kept(pattern: str) -> None:
    compile_js(pattern)


def test_one_refused_pattern_in_a_list_refuses_the_rule() -> None:
    assert "lookahead" in refusal(["abc", "a(?=b)"])


def test_an_empty_list_is_refused() -> None:
    assert "empty pattern list" in refusal([])


@pytest.mark.parametrize(
    ("pattern", "text", "spans"),
    [
        ("/abc/i", "xABC", [(1, 4)]),
        ("/a/gi", "aA", [(0, 1), (1, 2)]),
        ("a/b", "a/b", [(0, 3)]),  # slashes are optional: no surrounding pair, the text is the body
        (r"\s", "\u00a0\ufeff\u2028\u3000\u1680x", [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]),
        (r"\S", "\u00a0x", [(1, 2)]),
        (r"[\S]", "\ufeffy", [(1, 2)]),
        ("a.c", "a\rc a\nc a\u2028c a\u2029c a\u0085c", [(16, 19)]),
        (r"\d+", "٣3", [(1, 2)]),  # ASCII digits only
        (r"\w+", "é_a1", [(1, 4)]),  # ASCII word characters only
        (r"\u0041\u{2}", "Auu", [(0, 3)]),  # \u{2} without u is "u" twice
        (r"\uD83D\uDE00", "x😀", [(1, 2)]),  # a surrogate pair is one code point
        (r"\x41", "A", [(0, 1)]),
        (r"\cJ", "\n", [(0, 1)]),
        (r"\c1", "\\c1", [(0, 3)]),  # Annex B: \c without a letter is a backslash and "c"
        (r"[\c1]", "\x11", [(0, 1)]),
        ("[^]", "\n😀", [(0, 1), (1, 2)]),
        ("[]", "anything", []),
        ("^a", "aa", [(0, 1)]),
        ("a$", "aa\na", [(3, 4)]),
        ("^$", "", [(0, 0)]),
        (r"(?<year>\d{4})-", "2026-", [(0, 5)]),
        ("a{,2}", "a{,2}", [(0, 5)]),  # not a quantifier: literal braces
        (r"[\d-z]", "-z", [(0, 1), (1, 2)]),
        (r"[\b]", "\b", [(0, 1)]),
        (r"\bfoo\b", "foo foobar", [(0, 3)]),
        (r"\B", "\u00a0é", [(0, 0), (1, 1), (2, 2)]),  # never inside one character's UTF-8 bytes
        ("a*", "baa", [(0, 0), (1, 3), (3, 3)]),  # empty matches advance as JS matchAll does
        ("é+", "xéé", [(1, 3)]),
        ("/s|a/i", "sSſ", [(0, 1), (1, 2)]),  # JS's i: U+017F is not s (RE2's folding says it is)
        ("/k/i", "kK\u212a", [(0, 1), (1, 2)]),
        ("/ß/i", "ßẞ", [(0, 1)]),
        ("/[é-ê]/i", "ÉÊË", [(0, 1), (1, 2)]),
        ("/[^a]/i", "aAb", [(2, 3)]),
    ],
)
def test_javascript_meaning_is_kept_on_re2(pattern: str, text: str, spans: list[tuple[int, int]]) -> None:
    assert compile_js(pattern).find(text) == spans


def test_several_patterns_are_ored_each_with_its_own_flags() -> None:
    regex = compile_js(["/ssn/i", r"\d{3}-\d{2}-\d{4}", "key"])
    assert regex.find("SSN 078-05-1120 KEY key") == [(0, 3), (4, 15), (20, 23)]


def test_named_groups_become_re2_named_groups() -> None:
    assert "(?P<year>" in compile_js(r"(?<year>\d{4})").re2_text


def test_whether_anything_matches() -> None:
    regex = compile_js(r"/sk-[a-z0-9]{8}/")
    assert regex.matches("token sk-abcd1234 here")
    assert not regex.matches("nothing to see")


def test_a_text_past_the_scan_limit_is_refused_not_partly_scanned() -> None:
    regex = compile_js("a")
    with pytest.raises(ScanTooLarge):
        regex.find("b" * (MAX_SCANNED_BYTES + 1))
    with pytest.raises(ScanTooLarge):
        regex.matches("é" * (MAX_SCANNED_BYTES // 2 + 1))  # the limit counts UTF-8 bytes


def test_the_scan_limit_is_the_one_in_limits() -> None:
    assert LIMITS.scan_bytes == MAX_SCANNED_BYTES


def test_a_text_with_more_matches_than_the_cap_is_refused_not_partly_reported() -> None:
    regex = compile_js("/x/g")
    assert len(regex.find("x" * LIMITS.matches_per_text)) == LIMITS.matches_per_text
    with pytest.raises(ScanTooLarge, match=f"more than {LIMITS.matches_per_text} matches"):
        regex.find("x" * (LIMITS.matches_per_text + 1))


def test_a_find_past_its_deadline_stops_with_scan_too_slow() -> None:
    # each match of this pattern rescans to the end of the text: n matches cost n² without a deadline
    regex = compile_js("/a(?:.*b)?/")
    assert len(regex.find("a" * 100)) == 100
    with pytest.raises(ScanTooSlow, match="deadline, 0 bytes in"):
        regex.find("a" * 100, deadline=0.0)  # already passed: looked at before the first search


def test_the_deadline_is_looked_at_again_every_few_searches(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]

    def clock() -> float:
        now[0] += 1.0  # every look at the clock is a second later
        return now[0]

    monkeypatch.setattr("lockgate.rules.regex.time.perf_counter", clock)
    regex = compile_js("/a/")
    with pytest.raises(ScanTooSlow, match=f"deadline, {CHECK_EVERY} bytes in"):
        regex.find("a" * 1000, deadline=1.5)  # the first look is at 1 s, the second at 2 s


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("pattern", "text", "spans"),
    [
        ("(a+)+$", "a" * MEGABYTE + "!", []),
        ("(a|aa)+$", "a" * MEGABYTE + "!", []),
        ("(a*)*b", "a" * MEGABYTE, []),
        ("(a+)*(b+)*(c+)*x", "abc" * (MEGABYTE // 3), []),
        ("^(\\w+\\s?)*$", "word " * (MEGABYTE // 5) + "!", []),
        ("(a|a)+", "a" * MEGABYTE, [(0, MEGABYTE)]),
    ],
)
def test_catastrophic_patterns_finish_on_a_megabyte(
    pattern: str, text: str, spans: list[tuple[int, int]]
) -> None:
    """Each would backtrack for longer than the universe's age on a backtracking engine."""
    assert compile_js(pattern).find(text) == spans
