"""Ready-made patterns a regex rule may name instead of writing its own (issue 12 §3).

Each preset is a JavaScript-syntax pattern run like a rule's own (``rules.regex``), a label (the
entity type a ``replace`` writes, as Presidio names it where it has the type), and where the type has
one, a validator that rejects candidates failing their checksum (Luhn for card numbers, ISO 13616
mod-97 for IBANs), so precision does not rest on the pattern alone.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from lockgate.rules.regex import JsRegex, compile_js


@dataclass(frozen=True, slots=True)
class Preset:
    """``pattern`` in JavaScript syntax; ``validator`` None accepts every candidate."""

    name: str
    label: str
    description: str
    pattern: str
    validator: Callable[[str], bool] | None = None

    def accepts(self, candidate: str) -> bool:
        return self.validator is None or self.validator(candidate)

    def compiled(self) -> JsRegex:
        return _compiled(self.pattern)


@functools.cache
def _compiled(pattern: str) -> JsRegex:
    return compile_js(pattern)


_ALL = (
    Preset(
        "us_ssn",
        "US_SSN",
        "US Social Security number, ddd-dd-dddd (area not 000, 666 or 9xx; group and serial not zero)",
        r"\b\d{3}-\d{2}-\d{4}\b",
        lambda ssn: (
            ssn[:3] not in ("000", "666") and ssn[0] != "9" and ssn[4:6] != "00" and ssn[7:] != "0000"
        ),
    ),
    Preset(
        "email",
        "EMAIL_ADDRESS",
        "Email address (RFC 5322 addr-spec, dot-atom local part)",
        r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b",
    ),
)

PRESETS: Mapping[str, Preset] = {preset.name: preset for preset in _ALL}
