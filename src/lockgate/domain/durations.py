"""Lifetimes as people write them: ``3600`` (seconds), ``90m``, ``12h``, ``30d``, ``2w``."""

from __future__ import annotations

import re
from typing import Final

UNITS: Final = {"s": 1, "m": 60, "h": 3_600, "d": 86_400, "w": 604_800}
_DURATION: Final = re.compile(r"^([0-9]{1,9})([smhdw]?)$")


def parse_duration(value: int | str, *, least: int, most: int) -> int:
    """``value`` in whole seconds: an int is seconds; a string is digits with an optional unit
    (``s`` seconds, the default; ``m`` minutes, ``h`` hours, ``d`` days, ``w`` weeks).

    Raises:
        ValueError: not of that form, or outside ``least`` to ``most`` seconds (inclusive).
    """
    if isinstance(value, bool):  # a JSON true is no lifetime
        raise ValueError("a duration is seconds, or a number with a unit: 90m, 12h, 30d, 2w")
    if isinstance(value, int):
        seconds = value
    else:
        match = _DURATION.match(value.strip())
        if match is None:
            raise ValueError("a duration is seconds, or a number with a unit: 90m, 12h, 30d, 2w")
        seconds = int(match[1]) * UNITS[match[2] or "s"]
    if not least <= seconds <= most:
        raise ValueError(f"a duration from {least} to {most} seconds ({most // 86_400} days)")
    return seconds
