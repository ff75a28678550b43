"""Microsoft Presidio as a rule's detection method, offline (spec §2.2).

PATTERN_ENTITIES are found by Presidio's regex, checksum and context recognisers on a blank spaCy
pipeline (no model, no download). NER_ENTITIES need a spaCy model the operator installs and names.
"""

from __future__ import annotations

PATTERN_ENTITIES = frozenset(
    {
        "CREDIT_CARD",
        "CRYPTO",
        "DATE_TIME",
        "EMAIL_ADDRESS",
        "IBAN_CODE",
        "IP_ADDRESS",
        "MAC_ADDRESS",
        "MEDICAL_LICENSE",
        "PHONE_NUMBER",
        "UK_NHS",
        "URL",
        "US_BANK_NUMBER",
        "US_DRIVER_LICENSE",
        "US_ITIN",
        "US_PASSPORT",
        "US_SSN",
        "UUID",
    }
)
NER_ENTITIES = frozenset({"PERSON", "LOCATION", "NRP", "ORGANIZATION"})
SUPPORTED_ENTITIES = PATTERN_ENTITIES | NER_ENTITIES
"""What a Presidio rule may select (``PresidioDetection.entities``)."""
