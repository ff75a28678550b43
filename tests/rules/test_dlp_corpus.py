"""The DLP corpus holds the ready-made patterns to recall and precision: at least 200 sourced positive
and 200 near-miss negative texts, and 0.98 or better on the checksum-backed kinds."""

import pytest
from bench.dlp import Entry, Figures, load_corpus, mixed_text, score

from lockgate.rules.presets import PRESETS

CHECKSUM_BACKED = ("credit_card", "iban", "us_ssn")


@pytest.fixture(scope="module")
def corpus() -> list[Entry]:
    return load_corpus()


def test_the_corpus_has_200_positives_and_200_negatives_each_sourced(corpus: list[Entry]) -> None:
    assert sum(entry.expect == "match" for entry in corpus) >= 200
    assert sum(entry.expect == "miss" for entry in corpus) >= 200
    assert all(entry.source.strip() and entry.text for entry in corpus)
    assert len({(entry.preset, entry.text) for entry in corpus}) == len(corpus)


def test_every_preset_has_positives_and_negatives_in_the_corpus(corpus: list[Entry]) -> None:
    for name in PRESETS:
        expectations = {entry.expect for entry in corpus if entry.preset == name}
        assert expectations == {"match", "miss"}, name


def test_the_checksum_backed_kinds_reach_098_recall_and_precision(corpus: list[Entry]) -> None:
    figures = score(corpus)
    for name, figure in figures.items():
        print(f"{name:<18} recall {figure.recall:.3f} precision {figure.precision:.3f}")
    for name in CHECKSUM_BACKED:
        assert figures[name].recall >= 0.98, name
        assert figures[name].precision >= 0.98, name


def test_the_figures_count_what_was_found_against_what_was_expected() -> None:
    entries = [
        Entry("us_ssn", "536-22-1234", "match", "t"),
        Entry("us_ssn", "no number", "match", "t"),
        Entry("us_ssn", "666-22-1234", "miss", "t"),
        Entry("email", "a@example.com", "miss", "t"),
    ]
    figures = score(entries)
    assert figures == {"us_ssn": Figures(1, 1, 0, 1), "email": Figures(0, 0, 1, 0)}
    assert (figures["us_ssn"].recall, figures["us_ssn"].precision) == (0.5, 1.0)
    assert (figures["email"].recall, figures["email"].precision) == (1.0, 0.0)


def test_an_entry_naming_an_unknown_preset_is_refused(tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.mktemp("corpus") / "corpus.yaml"
    path.write_text("- {preset: passport, text: X1, expect: match, source: t}\n")
    with pytest.raises(ValueError, match="passport"):
        load_corpus(path)


def test_the_throughput_text_is_the_size_asked_and_holds_corpus_texts(corpus: list[Entry]) -> None:
    text = mixed_text(corpus, 64 * 1024)
    assert len(text) == 64 * 1024
    assert corpus[0].text in text
