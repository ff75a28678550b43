"""The DLP benchmark: recall and precision of each ready-made pattern over the DLP corpus, and how fast
all of them together scan a 1 MiB mixed text.

The corpus (``tests/rules/dlp_corpus.yaml``) lists texts a preset must match and near-misses it must
not, each with the source of its format. A preset's recall is the share of its positives it finds;
its precision the share of its findings that are positives. The throughput text repeats the corpus's
texts between lines of prose up to 1 MiB; every preset's detector (``rules.detect.RegexDetector``,
validators included) scans it as one string, best of ``--repeat`` runs.

    python -m bench.dlp [--repeat N] [--out FILE]
"""

import argparse
import itertools
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.run import ROOT, machine, write_report
from lockgate.domain.rules import RegexDetection
from lockgate.rules.detect import RegexDetector
from lockgate.rules.presets import PRESETS

CORPUS = ROOT / "tests" / "rules" / "dlp_corpus.yaml"
MEBIBYTE = 1024 * 1024
PROSE = (
    "The quarterly report is attached; revenue grew 4.2% on 2024-12-31 against order #4155552671.",
    "Deploy v10.15.7 to host 192.168.100.200 after the 12:30:45 window, commit 3f786850e387550fdab836ed.",
    "Ask the on-call engineer to review ticket ORD-2024-000123 before the meeting in room 4B.",
)


@dataclass(frozen=True)
class Entry:
    """One corpus sample: ``text`` that ``preset`` must match (``expect`` "match") or not ("miss")."""

    preset: str
    text: str
    expect: str
    source: str


@dataclass(frozen=True)
class Figures:
    """A preset's confusion counts over its corpus entries, and recall and precision from them."""

    true_positives: int
    false_negatives: int
    false_positives: int
    true_negatives: int

    @property
    def recall(self) -> float:
        found = self.true_positives + self.false_negatives
        return self.true_positives / found if found else 1.0

    @property
    def precision(self) -> float:
        flagged = self.true_positives + self.false_positives
        return self.true_positives / flagged if flagged else 1.0


def load_corpus(path: Path = CORPUS) -> list[Entry]:
    """The corpus entries; raises ValueError on an entry naming an unknown preset or expectation."""
    entries = [Entry(**item) for item in yaml.safe_load(path.read_text())]
    for entry in entries:
        if entry.preset not in PRESETS or entry.expect not in ("match", "miss"):
            raise ValueError(f"corpus entry for {entry.preset!r} expecting {entry.expect!r}")
    return entries


def detector(*presets: str) -> RegexDetector:
    return RegexDetector(RegexDetection(presets=presets))


def score(entries: list[Entry]) -> dict[str, Figures]:
    """Each preset's figures: its own entries run through a detector of that preset alone."""
    counts: dict[str, list[int]] = {}
    detectors = {name: detector(name) for name in PRESETS}
    for entry in entries:
        matched = bool(detectors[entry.preset].find(entry.text))
        cell = (0 if matched else 1) if entry.expect == "match" else (2 if matched else 3)
        counts.setdefault(entry.preset, [0, 0, 0, 0])[cell] += 1
    return {name: Figures(*counts[name]) for name in PRESETS if name in counts}


def mixed_text(entries: list[Entry], size: int = MEBIBYTE) -> str:
    """Corpus texts between prose lines, repeated and cut to ``size`` characters (ASCII-heavy)."""
    lines = itertools.cycle(
        itertools.chain.from_iterable(zip(itertools.cycle(PROSE), (e.text for e in entries)))
    )
    parts, total = [], 0
    while total < size:
        line = next(lines)
        parts.append(line)
        total += len(line) + 1
    return "\n".join(parts)[:size]


def time_scan(scanner: RegexDetector, text: str, repeat: int) -> tuple[float, int]:
    """The best of ``repeat`` runs in seconds, and the number of spans found."""
    best, spans = float("inf"), 0
    for _ in range(repeat):
        started = time.perf_counter()
        spans = len(scanner.find(text))
        best = min(best, time.perf_counter() - started)
    return best, spans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeat", type=int, default=5, help="scans of the 1 MiB text, best kept (default 5)"
    )
    parser.add_argument("--out", type=Path, help="JSON report (default bench/results/dlp-<timestamp>.json)")
    args = parser.parse_args()
    entries = load_corpus()
    report: dict[str, Any] = {"machine": machine(text_bytes=MEBIBYTE, repeat=args.repeat)}
    m = report["machine"]
    print(f"DLP benchmark {m['date']}: {m['cpu']}, {m['cores']} cores, Python {m['python']}")
    positives = sum(entry.expect == "match" for entry in entries)
    print(f"corpus: {positives} positive and {len(entries) - positives} negative texts")
    print(f"{'preset':<18} {'pos':>4} {'neg':>4} {'recall':>7} {'precision':>9}  {'1 MiB scan':>10}")
    text = mixed_text(entries)
    report["presets"] = {}
    for name, figures in score(entries).items():
        seconds, _ = time_scan(detector(name), text, args.repeat)
        report["presets"][name] = {
            **asdict(figures),
            "recall": round(figures.recall, 4),
            "precision": round(figures.precision, 4),
            "scan_s": round(seconds, 4),
        }
        print(
            f"{name:<18} {figures.true_positives + figures.false_negatives:>4} "
            f"{figures.false_positives + figures.true_negatives:>4} {figures.recall:>7.3f} "
            f"{figures.precision:>9.3f}  {seconds * 1000:>8.1f} ms"
        )
    seconds, spans = time_scan(detector(*PRESETS), text, args.repeat)
    report["all_presets"] = {"scan_s": round(seconds, 4), "mib_per_s": round(1 / seconds, 2), "spans": spans}
    print(
        f"all {len(PRESETS)} presets on 1 MiB of mixed text: {seconds:.3f} s, "
        f"{1 / seconds:.1f} MiB/s, {spans} spans"
    )
    out = write_report(report, args.out, "dlp-")
    print(f"written to {os.path.relpath(out)}")


if __name__ == "__main__":
    main()
