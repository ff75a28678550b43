"""The non-blocking actions of a rule, applied to the spans a detection found in one string (spec §2.4).

``redact`` removes each match; ``replace`` puts ``Action.replacement`` in its place (by default the
span's label as a typed tag, ``<EMAIL_ADDRESS>``, as Presidio's anonymizer does, or ``[REDACTED]`` for
a match without a label); ``mask`` keeps the last ``Action.visible`` characters and writes
``Action.mask_char`` over the rest (all of it when the match is no longer than that); ``hash``
writes ``Action.hash_prefix`` and the first ``Action.hash_chars`` hex digits of HMAC-SHA-256 (RFC 2104)
of the match under the gateway's key, so equal values correlate and none can be reversed without
the key. Overlapping spans are merged first, so no character is transformed twice.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from lockgate.domain.rules import Action, ActionKind

DEFAULT_REPLACEMENT = "[REDACTED]"


@dataclass(frozen=True, slots=True)
class Span:
    """``text[start:end]`` matched; ``label`` names what it is (``EMAIL_ADDRESS``, ``US_SSN``), or ""
    for a plain regular expression."""

    start: int
    end: int
    label: str = ""


def merged(spans: Iterable[Span]) -> list[Span]:
    """``spans`` in order with overlaps joined (the first span's label kept); empty spans dropped."""
    out: list[Span] = []
    for span in sorted((s for s in spans if s.end > s.start), key=lambda s: (s.start, -s.end)):
        if out and span.start < out[-1].end:
            last = out[-1]
            out[-1] = Span(last.start, max(last.end, span.end), last.label)
        else:
            out.append(span)
    return out


def transform(text: str, spans: Iterable[Span], action: Action, key: bytes = b"") -> str:
    """``text`` with ``action`` applied to every span (merged first).

    Raises:
        ValueError: ``action`` is ``block`` (it transforms nothing), or ``hash`` without a key.
    """
    if action.kind is ActionKind.BLOCK:
        raise ValueError("block does not transform text")
    if action.kind is ActionKind.HASH and not key:
        raise ValueError("hash needs the gateway's key")
    parts: list[str] = []
    at = 0
    for span in merged(spans):
        parts.append(text[at : span.start])
        parts.append(_replacement(text[span.start : span.end], span.label, action, key))
        at = span.end
    parts.append(text[at:])
    return "".join(parts)


def _replacement(match: str, label: str, action: Action, key: bytes) -> str:
    if action.kind is ActionKind.REDACT:
        return ""
    if action.kind is ActionKind.REPLACE:
        if action.replacement is not None:
            return action.replacement
        return f"<{label}>" if label else DEFAULT_REPLACEMENT
    if action.kind is ActionKind.MASK:
        visible = action.visible if len(match) > action.visible else 0
        return action.mask_char * (len(match) - visible) + match[len(match) - visible :]
    digest = hmac.new(key, match.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
    return action.hash_prefix + digest[: action.hash_chars]
