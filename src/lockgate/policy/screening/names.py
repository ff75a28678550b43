"""Names on one gateway: anti-mimicry and cross-server shadowing.

A gateway carries several assignments (a server on a gateway); an agent sees the features of all of
them in one context. Two checks need the *other* assignments' names, given as ``Neighbours``:

- mimicry: a feature or server name whose TR39 skeleton (Unicode Technical Standard #39 §4, after
  NFKC, case folding and dropping invisibles; data from ``confusables.txt`` as the ``disarm`` package
  ships it) equals another's while the names differ — ``send_messаge`` with a Cyrillic ``а`` beside
  ``send_message``: ``high``. Names that differ only in case or separators are ``medium``; the same
  name on two assignments is ``low`` (the gateway's prefixes keep them apart).
- shadowing: a string that names a feature or server of another assignment (Invariant Labs, "MCP
  Security Notification: Tool Poisoning Attacks": ``add`` rewriting the rules of ``send_email``):
  ``high`` when the sentence gives a rule (must, always, never, instead, before, ...), else ``medium``.
  A plain lower-case word (``echo``, ``add``) counts as a name only when quoted or followed by "tool".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final

import disarm

from lockgate.policy.screening.findings import FeatureRef, Finding, Kind, Severity, quote

MAX_NEIGHBOURS: Final = 20_000
"""Names of other assignments considered; a gateway past this is screened against the first ones."""
_SEPARATORS: Final = re.compile(r"[\s_.\-/]+")
_TOKEN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")
_QUOTES: Final = "`'\""
_TOOL_WORD: Final = re.compile(r"\s{1,3}(?:tool|function|prompt)(?![a-z])", re.IGNORECASE)
_RULE_WORDS: Final = re.compile(
    r"(?<![a-z])(?:must|always|never|instead|before|after|whenever|should|do not|don'?t|make sure|change"
    r"|replace|redirect|override|ignore|only|requir(?:e|es|ed|ing)|mandatory|first)(?![a-z])"
)


def fold(text: str) -> str:
    """The text phrase rules read: case-folded, then reduced to its TR39 skeleton (NFKC, invisibles
    and bidi controls dropped, confusables mapped to their prototypes, whitespace collapsed)."""
    return disarm.skeleton_key(text.casefold())


def skeleton(name: str) -> str:
    """A name's TR39 skeleton with ``1 ≡ l`` and ``0 ≡ O``, as identifier comparison wants."""
    return disarm.skeleton_key(name, digit_policy="tr39")


def _bare(name: str) -> str:
    return _SEPARATORS.sub("", name.casefold())


@dataclass(frozen=True, slots=True)
class Neighbours:
    """The names of the features and servers of a gateway's *other* assignments, indexed once.

    Build with ``Neighbours.of(feature_names, server_names, established)``; reuse it for every
    definition of the assignment being screened. ``established``: the names among them approved on
    their assignments."""

    names: frozenset[str] = frozenset()
    established: frozenset[str] = frozenset()
    by_skeleton: Mapping[str, frozenset[str]] = field(default_factory=dict)
    by_bare: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        feature_names: Iterable[str] = (),
        server_names: Iterable[str] = (),
        established: Iterable[str] = (),
    ) -> Neighbours:
        names: set[str] = set()
        for name in (*feature_names, *server_names):
            if len(names) >= MAX_NEIGHBOURS:
                break
            if name:
                names.add(name)
        by_skeleton: dict[str, set[str]] = {}
        by_bare: dict[str, set[str]] = {}
        for name in names:
            by_skeleton.setdefault(skeleton(name), set()).add(name)
            by_bare.setdefault(_bare(name), set()).add(name)
        return cls(
            frozenset(names),
            frozenset(established) & names,
            {key: frozenset(value) for key, value in by_skeleton.items()},
            {key: frozenset(value) for key, value in by_bare.items()},
        )


NO_NEIGHBOURS: Final = Neighbours()


def find_mimicry(
    feature: FeatureRef | None, location: str, name: str, neighbours: Neighbours, *, established: bool = False
) -> Iterator[Finding]:
    """Findings of kind ``mimicry`` for one name against the other assignments' names. A finding goes
    to the lookalike that is not approved: an ``established`` (approved) name is compared only with
    the neighbours' approved names; two names that are both unapproved (or both approved) each get it."""
    if not neighbours.names:
        return
    others = neighbours.established if established else neighbours.names
    confusable = sorted((neighbours.by_skeleton.get(skeleton(name), frozenset()) & others) - {name})
    spoofs = [other for other in confusable if other.casefold() != name.casefold()]
    if spoofs:
        yield Finding(
            Kind.MIMICRY, Severity.HIGH, "confusable_name", feature, location, quote(f"{name} ≈ {spoofs[0]}")
        )
        return
    bare = neighbours.by_bare.get(_bare(name), frozenset()) & others
    variants = sorted((set(confusable) | bare) - {name})
    if variants:
        yield Finding(
            Kind.MIMICRY, Severity.MEDIUM, "name_variant", feature, location, quote(f"{name} ≈ {variants[0]}")
        )
    elif name in others:
        yield Finding(Kind.MIMICRY, Severity.LOW, "same_name", feature, location, quote(name))


def find_mentions(
    feature: FeatureRef | None, location: str, text: str, neighbours: Neighbours
) -> Iterator[Finding]:
    """A finding of kind ``cross_server_shadowing`` when ``text`` names another assignment's feature."""
    if not neighbours.names:
        return
    for token in _TOKEN.finditer(text):
        named = _mentioned_name(token.group().rstrip(".-"), neighbours.names)
        if named is None or not _reads_as_name(named, text, token.start(), token.end()):
            continue
        sentence = _sentence(text, token.start(), token.end())
        severity = Severity.HIGH if _RULE_WORDS.search(sentence.casefold()) else Severity.MEDIUM
        evidence = quote(sentence.strip())
        yield Finding(
            Kind.CROSS_SERVER_SHADOWING, severity, "names_other_feature", feature, location, evidence
        )
        return


def _mentioned_name(token: str, names: frozenset[str]) -> str | None:
    """``token`` or a separator-led tail of it (``mcp_tool_send_email`` names ``send_email``)."""
    if token in names:
        return token
    for index, char in enumerate(token):
        if char in "_.-" and (tail := token[index + 1 :]) in names and any(sep in tail for sep in "_.-"):
            return tail
    return None


def _reads_as_name(name: str, text: str, start: int, end: int) -> bool:
    if any(char in name for char in "_.-") or any(char.isdigit() for char in name) or name != name.lower():
        return True
    before, after = text[start - 1 : start] if start else "", text[end : end + 1]
    return (bool(before) and before in _QUOTES and after == before) or bool(_TOOL_WORD.match(text, end))


def _sentence(text: str, start: int, end: int) -> str:
    head = max(text.rfind(".", max(0, start - 160), start), text.rfind("\n", max(0, start - 160), start))
    tail_candidates = [
        i for i in (text.find(".", end, end + 160), text.find("\n", end, end + 160)) if i != -1
    ]
    return text[
        head + 1 if head != -1 else max(0, start - 160) : min(tail_candidates)
        if tail_candidates
        else end + 160
    ]
