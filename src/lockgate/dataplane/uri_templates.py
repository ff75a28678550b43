"""Whether a URI is one an RFC 6570 resource template can expand to, in time linear in the URI.

Enough to route and to govern a URI, not to parse it: a simple variable (``{x}``, ``{.x}``,
``{;x}``) stands for any run of characters but ``/``, ``?`` and ``#``; ``{+x}`` for any run; ``{#x}``,
``{?x}`` and ``{&x}`` for nothing or their operator followed by any run; ``{/x}`` for nothing or
``/`` followed by a run without ``?`` or ``#``. Adjacent variables without an operator merge into
one. A template is matched by following every state it can be in at once (a Thompson automaton),
never by backtracking, so a server's template cannot make a crafted URI cost more than
(URI length × template length) steps, both capped: a URI longer than ``MAX_URI_CHARS`` matches
nothing here and is refused by routing, and a template longer than ``MAX_TEMPLATE_CHARS`` or with
more than ``MAX_VARIABLES`` variables matches nothing.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Final

MAX_URI_CHARS: Final = 8192
"""The longest URI the gateway routes (a longer one is refused with -32602)."""
MAX_TEMPLATE_CHARS: Final = 512
"""The longest template that matches anything."""
MAX_VARIABLES: Final = 16
"""The most variables a template that matches anything may have."""

ANY: Final = frozenset[str]()
SEGMENT: Final = frozenset("/?#")
EXPANSIONS: Final = {
    "+": (None, ANY),
    "#": ("#", ANY),
    "?": ("?", ANY),
    "&": ("&", ANY),
    "/": ("/", frozenset("?#")),
}
"""Operator → (the character a non-empty expansion starts with, characters it excludes)."""
VARIABLE: Final = re.compile(r"\{([+#./;?&]?)([^}]*)\}")


@dataclass(frozen=True, slots=True)
class Variable:
    """One expansion: nothing, or ``lead`` (when set) followed by a run without ``excluded``."""

    lead: str | None
    excluded: frozenset[str]


Element = str | Variable
"""One literal character, or a variable."""


class UriTemplate:
    """A compiled template; ``match(uri)`` says whether it can expand to ``uri``."""

    def __init__(self, template: str) -> None:
        self._elements = _elements(template)
        self._prefix = _literal_prefix(self._elements)

    def match(self, uri: str) -> bool:
        elements = self._elements
        if elements is None or len(uri) > MAX_URI_CHARS or not uri.startswith(self._prefix):
            return False
        end = 2 * len(elements)  # a state is 2 × element index + (1 when inside that variable's run)
        states = self._closure({0})
        for char in uri:
            following: set[int] = set()
            for state in states:
                index, inside = divmod(state, 2)
                if index == len(elements):
                    continue
                element = elements[index]
                if isinstance(element, str):
                    if element == char:
                        following.add(state + 2)
                elif inside:
                    if char not in element.excluded:
                        following.add(state)
                elif element.lead == char:
                    following.add(state + 1)
            if not following:
                return False
            states = self._closure(following)
        return end in states

    def _closure(self, states: set[int]) -> set[int]:
        """``states`` and every state reached from them without reading a character."""
        elements, pending = self._elements, list(states)
        assert elements is not None
        while pending:
            index, inside = divmod(pending.pop(), 2)
            if index == len(elements) or isinstance(element := elements[index], str):
                continue
            reached = [2 * index + 2]  # the variable's run (or its absence) ends
            if not inside and element.lead is None:
                reached.append(2 * index + 1)
            for state in reached:
                if state not in states:
                    states.add(state)
                    pending.append(state)
        return states


@functools.lru_cache(maxsize=4096)
def template_pattern(template: str) -> UriTemplate:
    """The compiled ``template`` (kept: servers list the same templates again and again)."""
    return UriTemplate(template)


def _elements(template: str) -> tuple[Element, ...] | None:
    """The template as literal characters and variables; None past the caps."""
    if len(template) > MAX_TEMPLATE_CHARS:
        return None
    out: list[Element] = []
    pos = variables = 0
    for found in VARIABLE.finditer(template):
        out.extend(template[pos : found.start()])
        lead, excluded = EXPANSIONS.get(found.group(1), (None, SEGMENT))
        variables += 1
        previous = out[-1] if out else None
        if lead is None and isinstance(previous, Variable) and previous.lead is None:
            out[-1] = Variable(None, previous.excluded & excluded)  # adjacent runs: one run
        else:
            out.append(Variable(lead, excluded))
        pos = found.end()
    out.extend(template[pos:])
    return tuple(out) if variables <= MAX_VARIABLES else None


def _literal_prefix(elements: tuple[Element, ...] | None) -> str:
    prefix = []
    for element in elements or ():
        if not isinstance(element, str):
            break
        prefix.append(element)
    return "".join(prefix)
