"""What the CLI prints for people never lets a name chosen by a server or a user drive the terminal."""

from lockgate.cli.output import format_features, format_object, format_table

HOSTILE = "evil\x1b]0;pwned\x07\x9b2J\u202etxt.exe\U000e0041\n"
SHOWN = "evil\\x1b]0;pwned\\x07\\x9b2J\\u202etxt.exe\\U000e0041\\x0a"


def test_a_hostile_name_is_printed_with_its_control_bidi_and_tag_characters_escaped() -> None:
    assert format_table([{"name": HOSTILE}], ["name"]) == ["NAME", SHOWN]
    assert format_object({"name": HOSTILE}) == [f"name: {SHOWN}"]
    assert format_object({HOSTILE: 1})[0].startswith(f"{SHOWN}:")


def test_a_hostile_tool_name_in_the_features_view_and_in_nested_values_is_escaped() -> None:
    lines = format_features({"tools": [{"name": HOSTILE, "description": "ok"}]}, 200)
    assert SHOWN in lines[1] and "\x1b" not in "".join(lines)
    [line] = format_object({"meta": [HOSTILE, {"nested": HOSTILE}]})
    assert "\x1b" not in line and "\u202e" not in line and "\\u202e" in line


def test_ordinary_text_is_printed_as_it_is() -> None:
    assert format_table([{"name": "Grüße — 東京 ✓"}], ["name"]) == ["NAME", "Grüße — 東京 ✓"]
