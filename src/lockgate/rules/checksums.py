"""Check digits and number rules the ready-made patterns validate candidates with (``rules.presets``).

Each function takes the text a pattern matched (separators included) and says whether it is a
well-formed value of its kind; none raises. Sources: ISO/IEC 7812-1 Annex B (Luhn) and the card
networks' published IIN ranges; ISO 13616-1 and ISO 7064 MOD 97-10 with the SWIFT IBAN Registry's
lengths; the Social Security Administration's SSN randomization rules (2011); RFC 7519 §7.2 (JWT).
"""

from __future__ import annotations

import base64
import binascii
import json

MAX_JWT_HEADER_CHARS = 4096  # a longer first part is not a JOSE header worth decoding

# SWIFT IBAN Registry (release 98, 2024): country code -> IBAN length in characters.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip

# Card networks by IIN prefix range (inclusive, as digit strings of equal length) and card lengths:
# Visa, Mastercard (51-55 and the 2-series 2221-2720), American Express, Discover (6011, 622126-622925,
# 644-649, 65), Diners Club International (300-305, 36, 38-39) and JCB (3528-3589).
CARD_NETWORKS: tuple[tuple[str, str, frozenset[int]], ...] = (
    ("4", "4", frozenset({13, 16, 19})),
    ("51", "55", frozenset({16})),
    ("2221", "2720", frozenset({16})),
    ("34", "34", frozenset({15})),
    ("37", "37", frozenset({15})),
    ("6011", "6011", frozenset({16, 17, 18, 19})),
    ("622126", "622925", frozenset({16, 17, 18, 19})),
    ("644", "649", frozenset({16, 17, 18, 19})),
    ("65", "65", frozenset({16, 17, 18, 19})),
    ("300", "305", frozenset({14, 16, 17, 18, 19})),
    ("36", "36", frozenset({14, 16, 17, 18, 19})),
    ("38", "39", frozenset({14, 16, 17, 18, 19})),
    ("3528", "3589", frozenset({16, 17, 18, 19})),
)


def luhn_valid(digits: str) -> bool:
    """Whether a string of ASCII digits passes the Luhn check (ISO/IEC 7812-1 Annex B)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return bool(digits) and total % 10 == 0


def card_number_valid(text: str) -> bool:
    """A card number, spaces and dashes ignored: a known network's IIN and length, and the Luhn check."""
    digits = text.replace(" ", "").replace("-", "")
    if not digits.isascii() or not digits.isdigit():
        return False
    issued = any(
        low <= digits[: len(low)] <= high and len(digits) in lengths for low, high, lengths in CARD_NETWORKS
    )
    return issued and luhn_valid(digits)


def iban_valid(text: str) -> bool:
    """An IBAN, spaces ignored: its country's registry length and ISO 7064 MOD 97-10 check digits."""
    iban = text.replace(" ", "").upper()
    if not iban.isascii() or not iban.isalnum() or IBAN_LENGTHS.get(iban[:2]) != len(iban):
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def ssn_valid(text: str) -> bool:
    """A US SSN as the SSA assigns them: area not 000, 666 or 900-999; group not 00; serial not 0000.
    ``text`` is ``ddd-dd-dddd`` or ``ddd dd dddd``."""
    area, group, serial = text[:3], text[4:6], text[7:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def jwt_header_valid(text: str) -> bool:
    """A compact JWS whose first part is base64url (RFC 7515 §2, no padding) of a JSON object naming
    an ``alg`` (RFC 7519 §7.2 steps 2-5, the header only; the signature is not checked)."""
    header = text.split(".", 1)[0]
    if len(header) > MAX_JWT_HEADER_CHARS:
        return False
    try:
        decoded = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (binascii.Error, ValueError, RecursionError):
        return False
    return isinstance(decoded, dict) and isinstance(decoded.get("alg"), str)
