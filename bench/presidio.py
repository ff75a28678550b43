"""The Presidio benchmark: what one ``find`` costs on typical tool results, Presidio against the regex
detector, in the same run, and what building the offline analyzer costs once.

Each text is a tool result of mixed prose, JSON and log lines (0.5, 4 and 32 KiB) holding a few PII
values (an email, an SSN, a phone number, a card number). The Presidio detector (every pattern entity,
threshold 0.2, blank pipeline) and the regex detector (presets ``email`` and ``us_ssn``) are called
on the same texts in turn; p50 and p95 are per call. Last, one Presidio call each on 256 KiB of the
worst texts found for it (runs of digits and separators), in µs per character.

    python -m bench.presidio [--calls N] [--out FILE]
"""

import argparse
import os
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.run import machine, write_report
from lockgate.domain.rules import PresidioDetection, RegexDetection
from lockgate.rules.actions import Span
from lockgate.rules.detect import RegexDetector
from lockgate.rules.presidio import PresidioDetector, build_analyzer

SIZES = (512, 4096, 32768)
WORST = {"digits and spaces": "1 ", "digits and dashes": "1-", "dotted digits": "1.1."}
WORST_CHARS = 256 * 1024
PII = ("jane.roe@example.com", "SSN 536-90-4399", "+1 212-555-0100", "card 4111 1111 1111 1111")
FILLER = (
    "The deployment finished without errors and the service answered every health check.",
    '{"id": 4182, "status": "open", "title": "Quarterly report", "tags": ["finance", "q3"]}',
    "2026-12-04T10:15:02Z INFO worker-3 processed batch 7781 in 412 ms (312 rows)",
    "Please review the attached summary before the meeting on Thursday afternoon.",
    '{"path": "/srv/data/exports/2026/12", "bytes": 1048576, "checksum": "9f2c1e7a"}',
    "Items shipped: 14 of 20; the rest leave the warehouse after the next inventory count.",
)


def tool_result(size: int, seed: int) -> str:
    """About ``size`` characters of filler lines, one in a few of them ending with a PII value."""
    rng = random.Random(seed)
    budget = size - sum(len(value) + len(" Contact: .") for value in PII)
    lines: list[str] = []
    while sum(len(line) + 1 for line in lines) < budget:
        lines.append(rng.choice(FILLER))
    for n, value in enumerate(PII):
        at = n * len(lines) // len(PII)
        lines[at] = f"{lines[at]} Contact: {value}."
    return "\n".join(lines)


def percentiles(find: Callable[[str], list[Span]], text: str, calls: int) -> tuple[float, float, int]:
    """p50 and p95 milliseconds of ``calls`` calls (after 3 unmeasured), and the findings of one."""
    for _ in range(3):
        find(text)
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        find(text)
        times.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(times, n=20)
    return round(cuts[9], 3), round(cuts[18], 3), len(find(text))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="measured calls per text and detector")
    parser.add_argument(
        "--out", type=Path, help="JSON report (default bench/results/presidio-<timestamp>.json)"
    )
    args = parser.parse_args()
    report: dict[str, Any] = {"machine": machine(calls=args.calls), "sizes": []}
    m = report["machine"]
    print(f"Presidio benchmark {m['date']}: {m['cpu']}, {m['cores']} cores, Python {m['python']}")
    first = build_analyzer()
    again = build_analyzer()
    report["build_s"] = {"first": round(first.build_seconds, 3), "again": round(again.build_seconds, 3)}
    print(
        f"analyzer built in {first.build_seconds:.3f} s the first time (spaCy and Presidio imported), "
        f"{again.build_seconds:.3f} s again"
    )
    presidio = PresidioDetector(PresidioDetection(), first).find
    regex = RegexDetector(RegexDetection(presets=("email", "us_ssn"))).find
    for size in SIZES:
        text = tool_result(size, seed=size)
        p50, p95, found = percentiles(presidio, text, args.calls)
        r50, r95, regex_found = percentiles(regex, text, args.calls)
        report["sizes"].append(
            {
                "bytes": len(text.encode()),
                "presidio_ms": {"p50": p50, "p95": p95, "findings": found},
                "regex_ms": {"p50": r50, "p95": r95, "findings": regex_found},
                "ratio_p50": round(p50 / r50, 1),
            }
        )
        print(
            f"{size / 1024:>5g} KiB  presidio p50 {p50:.3f} ms p95 {p95:.3f} ms ({found} findings); "
            f"regex p50 {r50:.3f} ms p95 {r95:.3f} ms ({regex_found}); presidio/regex p50 x{p50 / r50:.1f}"
        )
    report["worst_us_per_char"] = {}
    for name, unit in WORST.items():
        text = unit * (WORST_CHARS // len(unit))
        started = time.perf_counter()
        presidio(text)
        per_char = (time.perf_counter() - started) / len(text) * 1e6
        report["worst_us_per_char"][name] = round(per_char, 1)
        print(f"worst: 256 KiB of {name}: {per_char:.1f} µs per character")
    out = write_report(report, args.out, "presidio-")
    print(f"written to {os.path.relpath(out)}")


if __name__ == "__main__":
    main()
