"""Presidio rules offline: what the pattern recognisers find and label, threshold, allowlist and entity
selection, that nothing reaches the network, and how a model is given or refused."""

import itertools
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import spacy
import tldextract
from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
from presidio_analyzer.predefined_recognizers import UrlRecognizer

from lockgate.domain.rules import LIMITS, Action, ActionKind, PresidioDetection
from lockgate.rules.actions import transform
from lockgate.rules.presidio import (
    NER_ENTITIES,
    PATTERN_ENTITIES,
    PIECE_CHARS,
    SUPPORTED_ENTITIES,
    Analyzer,
    PresidioDetector,
    PresidioUnavailable,
    UnknownEntityError,
    build_analyzer,
    offline_analyzer,
    pieces,
)
from lockgate.rules.presidio_offline import BisectContextEnhancer, LinearUrlRecognizer, load_pipeline
from lockgate.rules.regex import ScanTooLarge, ScanTooSlow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return offline_analyzer()


def found(analyzer: Analyzer, text: str, **detection: Any) -> list[tuple[str, str]]:
    spans = PresidioDetector(PresidioDetection(**detection), analyzer).find(text)
    return [(span.label, text[span.start : span.end]) for span in spans]


@pytest.mark.parametrize(
    ("text", "label", "value"),
    [
        ("write to jane.roe@example.com today", "EMAIL_ADDRESS", "jane.roe@example.com"),
        ("call +1 212-555-0100 after five", "PHONE_NUMBER", "+1 212-555-0100"),
        ("card 4111 1111 1111 1111 expires soon", "CREDIT_CARD", "4111 1111 1111 1111"),
        ("IBAN DE89 3704 0044 0532 0130 00 please", "IBAN_CODE", "DE89 3704 0044 0532 0130 00"),
        ("the host at 203.0.113.7 answered", "IP_ADDRESS", "203.0.113.7"),
        ("social security number 536-90-4399", "US_SSN", "536-90-4399"),
    ],
)
def test_a_pattern_entity_is_found_and_labelled_with_its_type(
    analyzer: Analyzer, text: str, label: str, value: str
) -> None:
    assert (label, value) in found(analyzer, text)


def test_a_card_number_failing_luhn_is_not_a_card(analyzer: Analyzer) -> None:
    assert found(analyzer, "card 4111 1111 1111 1112", entities=("CREDIT_CARD",)) == []


def test_a_finding_scored_under_the_threshold_is_dropped(analyzer: Analyzer) -> None:
    text = "reference 536904399 attached"  # nine digits: a very weak SSN (0.05) without context
    assert found(analyzer, text, entities=("US_SSN",)) == []  # default threshold 0.2
    assert found(analyzer, text, entities=("US_SSN",), threshold=0.01) == [("US_SSN", "536904399")]


def test_context_words_raise_a_weak_finding_over_the_threshold_on_the_blank_pipeline(
    analyzer: Analyzer,
) -> None:
    assert found(analyzer, "SSN: 536904399", entities=("US_SSN",)) == [("US_SSN", "536904399")]


def test_an_allowlisted_value_is_never_reported(analyzer: Analyzer) -> None:
    text = "from noreply@example.com to jane.roe@example.com"
    findings = found(analyzer, text, entities=("EMAIL_ADDRESS",), allowlist=("noreply@example.com",))
    assert findings == [("EMAIL_ADDRESS", "jane.roe@example.com")]


def test_a_rule_selecting_one_entity_reports_none_of_the_others_found_on_the_same_text(
    analyzer: Analyzer,
) -> None:
    nhs = "NHS number 943 476 5919"  # Presidio finds it both as UK_NHS and as PHONE_NUMBER
    assert {label for label, _ in found(analyzer, nhs)} == {"UK_NHS", "PHONE_NUMBER"}
    assert found(analyzer, nhs, entities=("UK_NHS",)) == [("UK_NHS", "943 476 5919")]
    assert found(analyzer, nhs, entities=("PHONE_NUMBER",)) == [("PHONE_NUMBER", "943 476 5919")]
    ssn = "SSN: 536904399"  # also a very weak bank, passport and driver licence number
    assert len(found(analyzer, ssn, threshold=0.0)) > 1
    assert found(analyzer, ssn, entities=("US_SSN",), threshold=0.0) == [("US_SSN", "536904399")]


def test_presidio_does_not_report_the_published_sample_ssn_078_05_1120(analyzer: Analyzer) -> None:
    assert found(analyzer, "SSN 078-05-1120", entities=("US_SSN",)) == []


def test_without_a_model_every_pattern_entity_and_no_ner_entity_is_supported(analyzer: Analyzer) -> None:
    assert analyzer.entities == PATTERN_ENTITIES
    assert analyzer.model_path is None


def test_the_blank_pipeline_takes_texts_up_to_the_scan_limit(analyzer: Analyzer) -> None:
    assert analyzer.max_chars == LIMITS.scan_bytes  # spaCy's own default would refuse past a million


def test_replace_without_a_replacement_writes_the_entity_type(analyzer: Analyzer) -> None:
    text = "write to jane.roe@example.com today"
    detector = PresidioDetector(PresidioDetection(), analyzer)
    assert (
        transform(text, detector.find(text), Action(ActionKind.REPLACE)) == "write to <EMAIL_ADDRESS> today"
    )


def test_of_two_findings_of_the_same_text_the_better_scored_names_it(analyzer: Analyzer) -> None:
    text = "NHS number 943 476 5919"  # UK_NHS scores 1.0 (checksum), PHONE_NUMBER 0.4
    detector = PresidioDetector(PresidioDetection(), analyzer)
    assert transform(text, detector.find(text), Action(ActionKind.REPLACE)) == "NHS number <UK_NHS>"


def test_a_text_over_the_scan_limit_in_utf8_is_refused(analyzer: Analyzer) -> None:
    detector = PresidioDetector(PresidioDetection(), analyzer)
    with pytest.raises(ScanTooLarge, match="scan limit"):
        detector.find("€" * (LIMITS.scan_bytes // 3 + 1))  # fewer characters than bytes allowed


def test_a_text_longer_than_the_models_limit_is_refused_before_spacy_sees_it(tmp_path: Path) -> None:
    spacy.blank("en").to_disk(tmp_path / "model")
    with_model = build_analyzer(str(tmp_path / "model"))
    assert (
        with_model.max_chars == 1_000_000
    )  # spaCy's default for a model: its parser and NER allocate per character
    detector = PresidioDetector(PresidioDetection(), with_model)
    assert detector.find("mail jane.roe@example.com")
    with pytest.raises(ScanTooLarge, match="1000000"):
        detector.find("x" * 1_000_001)


def test_a_text_whose_analysis_outlasts_the_budget_is_stopped_between_pieces(analyzer: Analyzer) -> None:
    text = "word " * (PIECE_CHARS // 5 + 10)  # two pieces
    assert PresidioDetector(PresidioDetection(), analyzer).find(text) == []
    with pytest.raises(ScanTooSlow, match="time budget"):
        PresidioDetector(PresidioDetection(), analyzer, budget_s=0).find(text)


def test_the_rules_deadline_over_the_message_stops_presidio_like_a_regex(analyzer: Analyzer) -> None:
    text = "word " * (PIECE_CHARS // 5 + 10)  # two pieces
    with pytest.raises(ScanTooSlow, match="time budget"):  # the one class regex and Presidio share
        PresidioDetector(PresidioDetection(), analyzer).find(text, deadline=0.0)


def test_an_ner_entity_without_a_model_is_refused_naming_the_setting(analyzer: Analyzer) -> None:
    with pytest.raises(PresidioUnavailable, match="PERSON needs a spaCy model: set LOCKGATE_PRESIDIO_MODEL"):
        PresidioDetector(PresidioDetection(entities=("EMAIL_ADDRESS", "PERSON")), analyzer)


def test_an_unknown_entity_is_refused_naming_it(analyzer: Analyzer) -> None:
    with pytest.raises(UnknownEntityError, match="'PASSWORD'"):
        PresidioDetector(PresidioDetection(entities=("PASSWORD",)), analyzer)


@pytest.mark.parametrize("threshold", [-0.1, 1.5])
def test_a_threshold_outside_zero_to_one_is_refused(analyzer: Analyzer, threshold: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        PresidioDetector(PresidioDetection(threshold=threshold), analyzer)


def test_the_bisecting_context_enhancer_finds_the_token_presidio_finds_at_every_offset() -> None:
    text = "  SSN:\t536-90-4399,  call +1 (212) 555-0100\n\nmail jane.roe@example.com  end"
    doc = load_pipeline(None, max_chars=len(text))(text)
    indices = [token.idx for token in doc]
    last_end = indices[-1] + len(doc[len(doc) - 1])
    for start in range(last_end):
        expected = LemmaContextAwareEnhancer._find_index_of_match_token("w", start, doc, indices)
        assert BisectContextEnhancer._find_index_of_match_token("w", start, doc, indices) == expected, start


URL_TEXTS = [
    "see https://www.example.com/a/b?c=d and foo.org, or www2.example.co.uk/path",
    "quoted \"http://example.net/x\" and 'example.io' in text",
    "path stops at a no-break space: example.com/a\u00a0b, an ideographic one: example.com/c\u3000d",
    "and at \x85 next line example.com/e\x85f, vertical tab example.com/g\x0bh, www\u0661.example.org",
    "UPPER.EXAMPLE.COM/Path and mixed Example.Org/X_y-z.html#frag",
    "1.1." * 64 + " a." * 64 + " not.a.tld.zzzz example.invalid",
]


@pytest.mark.parametrize("text", URL_TEXTS)
def test_the_url_recognizer_on_re2_finds_what_presidios_finds(text: str) -> None:
    def findings(recognizer: UrlRecognizer) -> list[tuple[int, int, float]]:
        results = recognizer.analyze(text, ["URL"], None)
        return sorted((result.start, result.end, result.score) for result in results)

    assert findings(LinearUrlRecognizer()) == findings(UrlRecognizer())


def test_a_text_made_to_backtrack_the_url_patterns_is_scanned_in_linear_time(analyzer: Analyzer) -> None:
    text = "1.1." * 16384  # 64 KiB: about 50 s through Presidio's own URL recogniser
    detector = PresidioDetector(PresidioDetection(entities=("URL",)), analyzer)
    started = time.perf_counter()
    detector.find(text)
    assert time.perf_counter() - started < 5


def test_a_long_text_analyzed_in_pieces_gives_what_one_analysis_of_it_gives(analyzer: Analyzer) -> None:
    line = "Contact: SSN 536-90-4399, card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, {n} "
    text = "".join(line.format(n=n) + "filler words " * (n % 7) for n in range(700))  # about 3 pieces
    assert len(list(pieces(text))) >= 3
    whole = analyzer._engine.analyze(text, "en", entities=sorted(PATTERN_ENTITIES), score_threshold=0.2)
    expected = sorted((result.start, result.end, result.entity_type) for result in whole)
    spans = PresidioDetector(PresidioDetection(), analyzer).find(text)
    assert sorted((span.start, span.end, span.label) for span in spans) == expected


def test_pieces_are_consecutive_and_cut_at_white_space() -> None:
    text = ("word " * 5000) + "x" * 40_000
    cuts = list(pieces(text))
    assert cuts[0][0] == 0 and cuts[-1][1] == len(text)
    assert all(end == next_start for (_, end), (next_start, _) in itertools.pairwise(cuts))
    assert all(end - start <= PIECE_CHARS for start, end in cuts)
    assert text[cuts[0][1] - 1] == " "  # where there is white space, the cut follows it


def test_one_analyzer_is_built_per_model_path_and_shared(analyzer: Analyzer) -> None:
    assert offline_analyzer() is analyzer
    assert analyzer.build_seconds > 0


def test_threads_finding_at_once_find_what_one_thread_finds(analyzer: Analyzer) -> None:
    texts = [
        f"mail user{n}@example.com, call +1 212-555-01{n:02d}, SSN: 536-90-43{n:02d}, ip 10.0.0.{n}"
        for n in range(32)
    ]
    detector = PresidioDetector(PresidioDetection(), analyzer)
    alone = [sorted(detector.find(text), key=repr) for text in texts]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda text: sorted(detector.find(text), key=repr), texts * 4))
    assert together == alone * 4


class NetworkAttempts(list[str]):
    """What tried to resolve or connect while the guard was on."""


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[NetworkAttempts]:
    attempts = NetworkAttempts()

    def refuse(what: str) -> Any:
        def refused(*args: Any, **kwargs: Any) -> Any:
            attempts.append(what)
            raise OSError(f"network access in a test: {what}")

        return refused

    monkeypatch.setattr(socket.socket, "connect", refuse("connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("connect_ex"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    yield attempts


def test_the_network_guard_sees_what_tldextract_does_by_default(no_network: NetworkAttempts) -> None:
    tldextract.TLDExtract(cache_dir=None)("jane.roe@example.com")
    assert no_network  # so the next test's empty list means something


def test_building_and_running_an_analyzer_never_reaches_the_network(no_network: NetworkAttempts) -> None:
    fresh = build_analyzer()
    text = "jane@example.co.uk, ops@mail.example.org, x@y.io, https://example.com/a, 203.0.113.7"
    labels = {label for label, _ in found(fresh, text)}
    assert {"EMAIL_ADDRESS", "URL", "IP_ADDRESS"} <= labels
    assert no_network == []


def test_a_model_path_that_does_not_load_is_refused_naming_the_path(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-model-here")
    for _ in range(2):  # a failed build is not kept: the second call tries again
        with pytest.raises(PresidioUnavailable, match="no-model-here"):
            offline_analyzer(missing)


def test_a_model_directory_adds_the_ner_entities(tmp_path: Path, no_network: NetworkAttempts) -> None:
    nlp = spacy.blank("en")
    ruler: Any = nlp.add_pipe("entity_ruler")
    ruler.add_patterns(
        [{"label": "PERSON", "pattern": "Ada Lovelace"}, {"label": "GPE", "pattern": "London"}]
    )
    nlp.to_disk(tmp_path / "model")
    with_model = build_analyzer(str(tmp_path / "model"))
    assert with_model.entities == SUPPORTED_ENTITIES
    text = "Ada Lovelace wrote from London to ada@example.com"
    assert found(with_model, text, entities=tuple(NER_ENTITIES)) == [
        ("PERSON", "Ada Lovelace"),
        ("LOCATION", "London"),
    ]
    assert no_network == []


def test_importing_lockgate_and_its_cli_loads_neither_presidio_nor_spacy() -> None:
    probe = (
        "import sys, lockgate.cli, lockgate.rules.presidio;"
        "print(sorted({'spacy', 'presidio_analyzer'} & set(sys.modules)))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"
