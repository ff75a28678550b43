"""Ready-made patterns a regex rule may name instead of writing its own (issue 12 §3).

Each preset is a JavaScript-syntax pattern run like a rule's own (``rules.regex``: no lookaround, no
backreferences, linear time), a label (the entity type a ``replace`` writes, as Presidio names it where
it has the type, else an UPPER_SNAKE name), and where the type has a checksum or a structure the
pattern cannot hold, a validator (``rules.checksums``) that rejects candidates failing it, so precision
does not rest on the pattern alone. ``docs/rules.md`` ("Ready-made patterns") lists them with sources;
``tests/rules/dlp_corpus.yaml`` measures them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import groupby

from lockgate.rules.checksums import (
    IBAN_LENGTHS,
    card_number_valid,
    iban_valid,
    jwt_header_valid,
    ssn_valid,
)
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


def _iban_pattern() -> str:
    """Every registry country at its own length, compact (``DE89370400440532013000``) or in groups of
    four (``DE89 3704 0044 0532 0130 00``), so a longer run of groups is not swallowed."""
    by_length = sorted(IBAN_LENGTHS.items(), key=lambda item: item[1])
    alternatives = []
    for length, countries in groupby(by_length, key=lambda item: item[1]):
        codes = "|".join(code for code, _ in countries)
        groups, rest = divmod(length - 4, 4)
        tail = f" [A-Z0-9]{{{rest}}}" if rest else ""
        alternatives.append(
            f"(?:{codes})\\d{{2}}(?:[A-Z0-9]{{{length - 4}}}|(?: [A-Z0-9]{{4}}){{{groups}}}{tail})"
        )
    return r"\b(?:" + "|".join(alternatives) + r")\b"


def _phrases(*phrases: str) -> str:
    """Case-insensitive alternation of phrases whose spaces stand for any run of whitespace."""
    return "/(?:" + "|".join(phrase.replace(" ", r"\s+") for phrase in phrases) + ")/i"


_PREVIOUS = (
    r"(?:all |any |the |your )?(?:previous|prior|above|earlier|preceding|original|initial)"
    r"(?: and (?:following|subsequent|above|below))?"
)
_DIRECTIVES = r"(?:instructions?|rules?|prompts?|directions?|directives?|guidelines?|context)"
_TELL = r"(?:tell|mention|inform|notify|alert|reveal|disclose|show|report)(?:ing)?"

_ALL = (
    Preset(
        "us_ssn",
        "US_SSN",
        "US Social Security number, ddd-dd-dddd or ddd dd dddd (area not 000, 666 or 9xx; group and "
        "serial not zero)",
        r"\b\d{3}-\d{2}-\d{4}\b|\b\d{3} \d{2} \d{4}\b",
        ssn_valid,
    ),
    Preset(
        "credit_card",
        "CREDIT_CARD",
        "Payment card number of Visa, Mastercard (incl. 2-series), American Express, Discover, Diners "
        "Club or JCB: compact, or grouped 4-4-4-4 / 4-6-5 / 4-6-4 by spaces or dashes",
        r"\b(?:\d{4}(?: \d{4}){3}|\d{4}(?:-\d{4}){3}|\d{4} \d{6} \d{4,5}|\d{4}-\d{6}-\d{4,5}|\d{13,19})\b",
        card_number_valid,
    ),
    Preset(
        "iban",
        "IBAN_CODE",
        "International Bank Account Number of a SWIFT IBAN Registry country at its length, compact or "
        "grouped by four, upper case",
        _iban_pattern(),
        iban_valid,
    ),
    Preset(
        "email",
        "EMAIL_ADDRESS",
        "Email address (RFC 5322 addr-spec, dot-atom local part)",
        r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b",
    ),
    Preset(
        "phone",
        "PHONE_NUMBER",
        "Phone number: E.164 with a leading + (8 to 15 digits, spaces, dots, dashes or parentheses "
        "between), or a NANP number written (415) 555-2671, 415-555-2671, 415.555.2671 or 415 555 2671",
        r"\+[1-9](?:[ .()-]{0,2}\d){7,14}\b"
        r"|\([2-9]\d{2}\) ?[2-9]\d{2}-\d{4}\b"
        r"|\b(?:1-)?[2-9]\d{2}-[2-9]\d{2}-\d{4}\b"
        r"|\b[2-9]\d{2}\.[2-9]\d{2}\.\d{4}\b"
        r"|\b[2-9]\d{2} [2-9]\d{2} \d{4}\b",
    ),
    Preset(
        "aws_access_key",
        "AWS_ACCESS_KEY",
        "AWS access key id: AKIA (long-term), ASIA (temporary), ABIA, ACCA or A3T…, then 16 upper-case "
        "letters and digits",
        r"\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}\b",
    ),
    Preset(
        "aws_secret_key",
        "AWS_SECRET_KEY",
        "AWS secret access key in context: aws_secret_access_key, AWS_SECRET_ACCESS_KEY or "
        "SecretAccessKey, then = or :, then 40 base64 characters (the span covers the assignment)",
        r"/(?:aws_?secret_?(?:access_?)?key|secret_?access_?key)[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9/+]{40}/i",
    ),
    Preset(
        "github_token",
        "GITHUB_TOKEN",
        "GitHub token: ghp_, gho_, ghu_, ghs_ or ghr_ and 36 alphanumerics, or a fine-grained "
        "github_pat_ token",
        r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}\b|\bgithub_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}\b",
    ),
    Preset(
        "slack_token",
        "SLACK_TOKEN",
        "Slack token: xoxb-, xoxp-, xoxa-, xoxr- or xoxs-, a numeric id, then dash-separated parts",
        r"\bxox[bpars]-\d{1,20}-[0-9A-Za-z-]{8,250}\b",
    ),
    Preset(
        "slack_webhook",
        "SLACK_WEBHOOK_URL",
        "Slack incoming webhook URL: https://hooks.slack.com/services/T…/B…/secret",
        r"https://hooks\.slack\.com/services/T[A-Z0-9]{6,12}/B[A-Z0-9]{6,12}/[A-Za-z0-9]{20,32}\b",
    ),
    Preset(
        "stripe_key",
        "STRIPE_KEY",
        "Stripe API key: sk_live_, sk_test_, rk_live_, rk_test_ or pk_live_ and 24 or more alphanumerics",
        r"\b(?:sk_live|sk_test|rk_live|rk_test|pk_live)_[0-9A-Za-z]{24,247}\b",
    ),
    Preset(
        "openai_key",
        "OPENAI_API_KEY",
        "OpenAI API key: sk- (or sk-proj-, sk-svcacct-, sk-admin-) around the T3BlbkFJ marker",
        r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,250}T3BlbkFJ[A-Za-z0-9_-]{20,250}",
    ),
    Preset(
        "google_api_key",
        "GOOGLE_API_KEY",
        "Google API key: AIza and 35 base64url characters",
        r"\bAIza[0-9A-Za-z_-]{35}",
    ),
    Preset(
        "private_key",
        "PRIVATE_KEY",
        "PEM or OpenSSH private key block, BEGIN line to END line (RSA, EC, DSA, OPENSSH, ENCRYPTED, "
        "PKCS #8, PGP … BLOCK): the BEGIN line, its header lines (Proc-Type:, Version: …), the base64 "
        "after it and the END line if it follows; linear, so repeated BEGIN lines cost no rescans",
        r"-----BEGIN[ A-Z0-9]{0,32} PRIVATE KEY(?: BLOCK)?-----"
        r"(?:\r?\n[A-Za-z][A-Za-z-]{0,31}:[^\r\n]{0,256})*[A-Za-z0-9+/=\s]*"
        r"(?:-----END[ A-Z0-9]{0,32} PRIVATE KEY(?: BLOCK)?-----)?",
    ),
    Preset(
        "jwt",
        "JWT",
        "JSON Web Token, compact JWS: three base64url parts, the header a JSON object with alg",
        r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*",
        jwt_header_valid,
    ),
    Preset(
        "connection_string",
        "CONNECTION_STRING",
        "Database or broker URL with a password (postgres, mysql, mariadb, mongodb(+srv), redis, amqp, "
        "mssql; driver suffixes like postgresql+psycopg), or ADO.NET User ID=…;Password=…",
        r"/\b(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?|mssql|sqlserver)"
        r"(?:\+[a-z0-9]+)?://[^\s:/@\"'<>]*:[^\s/@\"'<>]+@[^\s\"'<>]+"
        r"|\b(?:user id|userid|uid|user|username)\s*=\s*[^;\r\n]{1,128};\s*(?:password|pwd)\s*="
        r"\s*[^;\r\n]{1,128}/i",
    ),
    Preset(
        "prompt_injection",
        "PROMPT_INJECTION",
        "Prompt-injection phrases: ignore or disregard previous instructions, you are now …, reveal the "
        "system prompt, do not tell the user, injected role markup",
        _phrases(
            rf"\b(?:ignore|disregard|forget|override|bypass) {_PREVIOUS} {_DIRECTIVES}",
            rf"\b(?:ignore|disregard|forget|override) (?:all |any )?(?:of )?(?:your|my|these|those|the) "
            rf"(?:system )?{_DIRECTIVES}",
            r"\b(?:disregard|ignore|forget) (?:everything |all )?(?:the |that )?(?:above|before)\b",
            r"\bforget everything (?:you were told|you know|above|before)",
            r"\byou are now (?:DAN|in (?:developer|god|jailbreak|unrestricted|DAN) mode|(?:an? )?"
            r"(?:unrestricted|unfiltered|uncensored|jailbroken|evil|rogue|different|new) (?:ai|assistant|"
            r"model|chatbot|llm|persona)|free from|no longer (?:bound|restricted|an? (?:ai|assistant)))",
            r"\b(?:enter|enable|activate|switch to) (?:god|DAN|jailbreak) mode\b",
            r"\b(?:reveal|print|show|repeat|output|display|leak|dump|tell me) (?:me )?(?:your|the) "
            r"(?:full |entire |hidden |secret )?(?:system|initial|original|hidden) (?:prompt|instructions)",
            r"\b(?:new|updated|real) system prompt\s*:|\bsystem prompt override\b",
            rf"\b(?:do not|don'?t|never|no need to|must not|without) {_TELL} (?:\w+ ){{0,3}}(?:to )?"
            r"(?:the )?user\b",
            r"<\s*/?\s*(?:important|system|instructions?|system(?:_|-| )?prompt)\s*>|<\|im_start\|>",
        ),
    ),
)

PRESETS: Mapping[str, Preset] = {preset.name: preset for preset in _ALL}
