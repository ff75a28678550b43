"""Presidio's analyzer engine built so that it never reaches the network (spec §2.2).

Presidio's defaults download: ``AnalyzerEngine()`` fetches a spaCy English model when none is
installed, and its email recogniser validates domains with ``tldextract``'s module-wide extractor,
which fetches the Public Suffix List (and writes a cache under the home directory). Here the NLP
engine is handed a pipeline already loaded (blank English, or a model read from disk, never
``spacy.cli.download``), and the email recogniser checks domains against the suffix list bundled
with ``tldextract`` (``suffix_list_urls=()``, no cache directory).

Presidio's recognisers match with the backtracking ``regex`` module, and its URL patterns (a
253-character label run before a list of over a thousand top-level domains) took 12 s on 16 KiB of
``1.1.1.1.``: ``LinearUrlRecognizer`` runs the same patterns on RE2, in linear time. The other
recognisers stay as Presidio ships them (several need lookaround or backreferences, which RE2 lacks).

Presidio's context enhancer finds the token of each finding by walking the tokens from the start,
which made a 32 KiB text cost hundreds of findings times thousands of tokens; ``BisectContextEnhancer``
finds the same token by bisection (bench/presidio.py measures it).

A blank pipeline has no lemmatizer, and Presidio's context enhancer compares lemmas with each
recogniser's context words ("ssn", "card", ...), so a component gives every token without a lemma
its lower-cased text as one: "SSN: 536904399" is then scored as an SSN in context.

Importing this module imports spaCy and Presidio (about half a second): ``rules.presidio`` imports
it only when an analyzer is first built.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from typing import Any

import re2
import spacy
import tldextract
from presidio_analyzer import AnalyzerEngine, EntityRecognizer, Pattern, RecognizerRegistry
from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine
from presidio_analyzer.nlp_engine.ner_model_configuration import MODEL_TO_PRESIDIO_ENTITY_MAPPING
from presidio_analyzer.predefined_recognizers import EmailRecognizer, SpacyRecognizer, UrlRecognizer
from presidio_analyzer.recognizer_registry.recognizers_loader_utils import (
    RecognizerConfigurationLoader,
    RecognizerListLoader,
)
from spacy.language import Language
from spacy.tokens import Doc

LANGUAGE = "en"
LEMMA_COMPONENT = "lockgate_lowercase_lemmas"
WARM_UP_TEXT = "warm-up for user@example.com at 192.0.2.1, SSN 536-90-4399, card 4111 1111 1111 1111"
"""Analyzed once at build time, so every recogniser is loaded and every pattern compiled before the
engine is shared (afterwards a call only reads the engine's state)."""


@Language.component(LEMMA_COMPONENT)
def lowercase_lemmas(doc: Doc) -> Doc:
    """Every token without a lemma gets its lower-cased text as one."""
    for token in doc:
        if not token.lemma_:
            token.lemma_ = token.lower_
    return doc


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's email recogniser, its domains checked against ``suffixes`` (no fetch)."""

    def __init__(self, suffixes: tldextract.TLDExtract) -> None:
        super().__init__(supported_language=LANGUAGE)
        self._suffixes = suffixes

    def validate_result(self, pattern_text: str) -> bool:
        return self._suffixes(pattern_text).fqdn != ""


class BisectContextEnhancer(LemmaContextAwareEnhancer):
    """Presidio's lemma context enhancer, each finding's token found by bisection."""

    @staticmethod
    def _find_index_of_match_token(word: str, start: int, tokens: Any, tokens_indices: list[int]) -> int:
        """The first token that ends after ``start`` (the one holding it, or the next one after
        whitespace), as Presidio's linear scan finds it; the last token when none does (where Presidio
        raises with the matched text in the message)."""
        index = max(bisect.bisect_right(tokens_indices, start) - 1, 0)
        if index < len(tokens) - 1 and start >= tokens_indices[index] + len(tokens[index]):
            index += 1
        return index


PYTHON_STR_SPACE = r"\s\p{Z}\x{85}\x0b\x1c-\x1f"
r"""What ``\s`` matches in a ``str`` pattern of Python's (Unicode white space), in RE2's syntax, where
``\s`` is ASCII only."""


class Re2Pattern:
    r"""A Presidio pattern compiled on RE2, standing in for the ``regex`` module's compiled pattern
    (Presidio calls ``finditer(text, timeout=...)`` and reads each match's ``span()``, in characters).
    ``\d`` and ``\s`` keep their Unicode meaning; ``source`` uses no other class that RE2 reads
    differently (no ``\w``, ``\b``)."""

    def __init__(self, source: str) -> None:
        self._compiled = re2.compile(
            source.replace(r"\d", r"\p{Nd}").replace(r"[^\s", "[^" + PYTHON_STR_SPACE)
        )

    def finditer(self, text: str, timeout: float | None = None) -> Iterator[Any]:
        return self._compiled.finditer(text)  # type: ignore[no-any-return]


class LinearUrlRecognizer(UrlRecognizer):
    """Presidio's URL recogniser, its patterns (copies of Presidio's) matched on RE2."""

    def __init__(self) -> None:
        patterns = [Pattern(pattern.name, pattern.regex, pattern.score) for pattern in UrlRecognizer.PATTERNS]
        super().__init__(patterns=patterns, supported_language=LANGUAGE)
        for pattern in patterns:  # compiled ahead, so Presidio does not compile them (it types both None)
            pattern.compiled_regex = Re2Pattern(pattern.regex)  # type: ignore[assignment]
            pattern.compiled_with_flags = self.global_regex_flags  # type: ignore[assignment]


def offline_recognizer(recognizer: EntityRecognizer, suffixes: tldextract.TLDExtract) -> EntityRecognizer:
    """``recognizer``, or its replacement here when Presidio's would fetch or backtrack."""
    if isinstance(recognizer, EmailRecognizer):
        return OfflineEmailRecognizer(suffixes)
    if isinstance(recognizer, UrlRecognizer):
        return LinearUrlRecognizer()
    return recognizer


def load_pipeline(model_path: str | None, max_chars: int) -> Language:
    """A blank English pipeline (``model_path`` None), or the spaCy model in directory ``model_path``,
    with the lemma component last. Its ``max_length`` (the longest text it takes, in characters) is
    ``max_chars`` for the blank pipeline (a tokenizer needs no more memory per character), and the
    model's own, at most ``max_chars``, for a model (spaCy's default, a million, bounds what its
    parser and NER allocate).

    Raises:
        OSError, ValueError, ImportError: the model does not load (what ``spacy.load`` raises).
    """
    if model_path is None:
        nlp = spacy.blank(LANGUAGE)
        nlp.max_length = max_chars
    else:
        nlp = spacy.load(model_path)
        nlp.max_length = min(nlp.max_length, max_chars)
    nlp.add_pipe(LEMMA_COMPONENT, last=True)
    return nlp


def build_engine(nlp: Language, ner_entities: frozenset[str]) -> AnalyzerEngine:
    """An analyzer over ``nlp`` with Presidio's English regex, checksum and context recognisers and,
    when ``ner_entities`` is not empty (a model was given), its NER recogniser for them (the model's
    labels mapped as Presidio maps them, ``PER``/``PERSON`` to PERSON, ``GPE`` to LOCATION, ...;
    other labels ignored). Warmed up (``WARM_UP_TEXT``) before it is returned."""
    suffixes = tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)
    configuration = RecognizerConfigurationLoader.get(
        registry_configuration={"supported_languages": [LANGUAGE]}
    )
    recognizers = [
        offline_recognizer(recognizer, suffixes) for recognizer in RecognizerListLoader.get(**configuration)
    ]
    mapping = {
        label: entity for label, entity in MODEL_TO_PRESIDIO_ENTITY_MAPPING.items() if entity in ner_entities
    }
    model_labels = {label for labels in nlp.pipe_labels.values() for label in labels}
    nlp_engine = SpacyNlpEngine(
        models=[{"lang_code": LANGUAGE, "model_name": nlp.meta.get("name") or "blank"}],
        ner_model_configuration=NerModelConfiguration(
            model_to_presidio_entity_mapping=mapping,
            labels_to_ignore=sorted(model_labels - mapping.keys()),
        ),
    )
    # handed over loaded: the engine's own load() would download a missing model (Presidio types it None)
    nlp_engine.nlp = {LANGUAGE: nlp}  # type: ignore[assignment]
    if ner_entities:
        recognizers.append(
            SpacyRecognizer(supported_language=LANGUAGE, supported_entities=sorted(ner_entities))
        )
    engine = AnalyzerEngine(
        registry=RecognizerRegistry(recognizers, supported_languages=[LANGUAGE]),
        nlp_engine=nlp_engine,
        supported_languages=[LANGUAGE],
        context_aware_enhancer=BisectContextEnhancer(),
    )
    engine.analyze(WARM_UP_TEXT, LANGUAGE)
    return engine
