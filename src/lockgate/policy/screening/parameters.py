"""Instructions to pass data in parameters unrelated to it: the exfiltration channel of tool poisoning.

The published attacks add a parameter the tool does not need — ``sidenote`` (Invariant Labs),
``notes``, ``context``, ``feedback`` — and tell the model to fill it with file contents, secrets or the
conversation; HiddenLayer showed that a parameter merely *named* ``system_prompt`` or
``conversation_history`` is filled by many models without any instruction; CyberArk put the
instruction in the parameter name itself (``content_from_reading_ssh_id_rsa``). Findings:

- a parameter named for the model's context, secrets or keys: ``high`` (``parameter_asks_for_context``);
- an instruction to put data in a named parameter, or a sentence that names a parameter as such ("the
  notes parameter"), with secrets, files' contents or the conversation in the same sentence: ``high``
  (``data_into_parameter``); an instruction into a side-channel parameter without them: ``medium``;
- a side-channel parameter name alone: ``low`` (``side_channel_parameter``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from itertools import islice
from typing import Any, Final

from lockgate.domain.features import FeatureKind
from lockgate.policy.screening.findings import FeatureRef, Finding, Kind, Severity, quote
from lockgate.policy.screening.instructions import HISTORY, PUT, SECRET_FILES, SECRET_NOUNS
from lockgate.policy.screening.names import fold

MAX_PARAMETERS: Final = 256
"""Parameters of one feature checked by name; the walk in ``texts`` still screens all their strings."""
MAX_MATCHES: Final = 64
"""Mentions of parameters weighed per string; the rest of a string that names its parameters more often
than this is not weighed again (each weighing reads a sentence of at most ``2 * SENTENCE_REACH``)."""
SENTENCE_REACH: Final = 240
"""How far, in characters, a sentence is looked for on each side of a match."""
SIDE_CHANNEL_NAMES: Final = frozenset(
    {
        "note", "notes", "sidenote", "side_note", "feedback", "details", "extra", "metadata", "debug",
        "context", "reasoning", "remark", "remarks", "comment", "comments", "annotation", "memo", "hint",
    }
)  # fmt: skip
"""Parameter names the published attacks and scanners use as side channels (libraries.md)."""
_CONTEXT_NAME: Final = re.compile(
    r"system[ _-]?(?:prompt|instructions?|message)|conversation|chat[ _-]?(?:history|log)"
    r"|message[ _-]?history"
    r"|previous[ _-]?messages|tools?[ _-]?list|list[ _-]?of[ _-]?tools|available[ _-]?tools|id[ _-]?rsa"
    r"|ssh[ _-]?key|private[ _-]?key|env(?:ironment)?[ _-]?var|reading[ _-]?ssh"
)
_CONTENT: Final = re.compile(
    rf"{SECRET_FILES}|{HISTORY}|{SECRET_NOUNS}|contents? of|(?:full|entire|whole|complete|all) (?:the )?"
    r"(?:contents?|files?|messages?|history|conversation|list)"
    r"|previous (?:tool )?(?:results?|outputs?|calls?)"
    r"|result of (?:the |a )?previous"
)


def list_parameters(kind: FeatureKind, definition: Mapping[str, Any]) -> list[str]:
    """The parameter names of a tool (``inputSchema.properties``) or a prompt (``arguments[].name``)."""
    if kind is FeatureKind.TOOL:
        schema = definition.get("inputSchema")
        properties = schema.get("properties") if isinstance(schema, Mapping) else None
        names = list(properties)[:MAX_PARAMETERS] if isinstance(properties, Mapping) else []
    elif kind is FeatureKind.PROMPT and isinstance(arguments := definition.get("arguments"), list):
        names = [arg.get("name") for arg in arguments[:MAX_PARAMETERS] if isinstance(arg, Mapping)]
    else:
        names = []
    return [name for name in names if isinstance(name, str) and name]


def find_parameter_exfiltration(
    feature: FeatureRef, parameters: Sequence[str], folded: Sequence[tuple[str, str]]
) -> Iterator[Finding]:
    """Findings of kind ``parameter_exfiltration`` for a feature's ``parameters``, given every string of
    the definition folded (``names.fold``) with its location."""
    kind = Kind.PARAMETER_EXFILTRATION
    for name in parameters:
        if _CONTEXT_NAME.search(fold(name)):
            yield Finding(
                kind, Severity.HIGH, "parameter_asks_for_context", feature, "inputSchema", quote(name)
            )
            return
    if not parameters:
        return
    alternatives = "|".join(re.escape(fold(name)) for name in parameters)
    noun = r"(?:parameter|param|field|argument|arg)s?"
    named = re.compile(
        rf"['\"]{{0,2}}(?<![a-z0-9_])({alternatives})['\"]{{0,2}}\s+{noun}(?![a-z])"
        rf"|{noun}\s+['\"]{{0,2}}({alternatives})(?![a-z0-9_])"
    )
    instruction = re.compile(
        rf"{PUT}\w{{0,32}}\b[^.]{{0,80}}?(?<![a-z])(?:as|in|into|inside|within|via|to|through|the|its)\s+"
        rf"(?:the\s+)?['\"]{{0,2}}({alternatives})(?![a-z0-9_])"
    )
    side_channels = [name for name in parameters if name.casefold() in SIDE_CHANNEL_NAMES]
    folded_side_channels = {fold(name) for name in side_channels}
    weak: Finding | None = None
    for location, text in folded:
        for found in islice(instruction.finditer(text), MAX_MATCHES):
            sentence = _sentence(text, found.start(), found.end())
            evidence = quote(found.group())
            if _CONTENT.search(sentence) or _CONTENT.search(found.group()):
                yield Finding(kind, Severity.HIGH, "data_into_parameter", feature, location, evidence)
                return
            if found.group(1) in folded_side_channels and weak is None:
                weak = Finding(kind, Severity.MEDIUM, "data_into_side_channel", feature, location, evidence)
        for found in islice(named.finditer(text), MAX_MATCHES):
            if _CONTENT.search(_sentence(text, found.start(), found.end())):
                yield Finding(
                    kind, Severity.HIGH, "data_into_parameter", feature, location, quote(found.group())
                )
                return
    if weak is not None:
        yield weak
    elif side_channels:
        yield Finding(
            kind, Severity.LOW, "side_channel_parameter", feature, "inputSchema", quote(side_channels[0])
        )


def _sentence(text: str, start: int, end: int) -> str:
    """The sentence around ``text[start:end]``, reaching at most ``SENTENCE_REACH`` to each side."""
    head = text.rfind(".", max(0, start - SENTENCE_REACH), start)
    stop = text.find(".", end, end + SENTENCE_REACH)
    return text[
        head + 1 if head != -1 else max(0, start - SENTENCE_REACH) : stop
        if stop != -1
        else end + SENTENCE_REACH
    ]
