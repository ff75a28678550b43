"""Stored provisioning values that this release does not know fail closed (``store.provisioning``)."""

from lockgate.domain.features import FeatureKind
from lockgate.domain.provisioning import DroppedField, MetadataFilter, Mode
from lockgate.store.provisioning import dump_filter, dump_modes, load_approval, load_filter, load_modes

ROW = {
    "id": 1,
    "kind": "tools",
    "name": "echo",
    "decision": "approved",
    "definition": '{"name": "echo"}',
    "digest": "0" * 64,
    "pinned": '["description"]',
    "teams": "[3]",
}


def test_an_unknown_or_missing_mode_reads_as_allow_selected() -> None:
    modes = load_modes('{"tools": "allow_everything", "prompts": "block_all"}')
    assert modes[FeatureKind.TOOL] is Mode.ALLOW_SELECTED
    assert modes[FeatureKind.PROMPT] is Mode.BLOCK_ALL
    assert modes[FeatureKind.RESOURCE] is Mode.ALLOW_SELECTED
    assert load_modes(None) == {kind: Mode.ALLOW_SELECTED for kind in FeatureKind}


def test_modes_round_trip() -> None:
    modes = load_modes(dump_modes({kind: Mode.BLOCK_ALL for kind in FeatureKind}))
    assert set(modes.values()) == {Mode.BLOCK_ALL}


def test_an_approval_with_an_unknown_pin_kind_or_decision_is_left_out() -> None:
    assert load_approval(ROW) is not None
    assert load_approval({**ROW, "pinned": '["colour"]'}) is None
    assert load_approval({**ROW, "kind": "widgets"}) is None
    assert load_approval({**ROW, "decision": "maybe"}) is None


def test_a_filter_round_trips_and_unknown_fields_to_drop_are_ignored() -> None:
    rules = load_filter({"drop": ["annotations", "colour"], "max_description": 80, "overrides": []})
    assert rules == MetadataFilter(drop=frozenset({DroppedField.ANNOTATIONS}), max_description=80)
    assert load_filter(dump_filter(rules)) == rules
    assert dump_filter(MetadataFilter()) is None
