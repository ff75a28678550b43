"""The ReDoS benchmark: catastrophic patterns on 1 MB, the rule regex engine against Python's ``re``.

Each pattern runs on a 1 MiB text built to make a backtracking engine explode. Lockgate's engine
(``lockgate.rules.regex``: JavaScript syntax translated to RE2) finds every match; Python's ``re``
looks for the first one in a child process that is stopped after ``--cutoff`` seconds.

    python -m bench.redos [--cutoff S] [--out FILE]
"""

import argparse
import multiprocessing
import os
import re
import time
from pathlib import Path
from typing import Any

from bench.run import machine, write_report
from lockgate.rules.regex import compile_js

MEGABYTE = 1024 * 1024
CASES = [  # (a pattern that means the same in JS and Python's re, a text that makes it backtrack)
    ("(a+)+$", "a" * MEGABYTE + "!"),
    ("(a|aa)+$", "a" * MEGABYTE + "!"),
    ("(a*)*b", "a" * MEGABYTE),
    ("^(\\w+\\s?)*$", "word " * (MEGABYTE // 5) + "!"),
    ("(x+x+)+y", "x" * MEGABYTE),
]


def _python_re(pattern: str, text: str) -> None:
    re.search(pattern, text)


def time_python_re(pattern: str, text: str, cutoff: float) -> float | None:
    """Seconds ``re.search`` took, or None when it had not finished after ``cutoff`` seconds."""
    child = multiprocessing.get_context("fork").Process(target=_python_re, args=(pattern, text))
    started = time.perf_counter()
    child.start()
    child.join(cutoff)
    elapsed = time.perf_counter() - started
    if child.is_alive():
        child.kill()
        child.join()
        return None
    return round(elapsed, 3)


def time_rules_engine(pattern: str, text: str) -> tuple[float, int]:
    """Seconds to compile and find all matches, and the number of matches."""
    started = time.perf_counter()
    matches = compile_js(pattern).find(text)
    return round(time.perf_counter() - started, 3), len(matches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cutoff", type=float, default=5.0, help="seconds Python's re may take (default 5)")
    parser.add_argument("--out", type=Path, help="JSON report (default bench/results/redos-<timestamp>.json)")
    args = parser.parse_args()
    report: dict[str, Any] = {"machine": machine(text_bytes=MEGABYTE, cutoff_s=args.cutoff), "cases": []}
    m = report["machine"]
    print(f"ReDoS benchmark {m['date']}: {m['cpu']}, {m['cores']} cores, Python {m['python']}")
    for pattern, text in CASES:
        engine_s, matches = time_rules_engine(pattern, text)
        re_s = time_python_re(pattern, text, args.cutoff)
        report["cases"].append(
            {"pattern": pattern, "rules_engine_s": engine_s, "matches": matches, "python_re_s": re_s}
        )
        python = f"{re_s} s" if re_s is not None else f"did not finish in {args.cutoff:g} s"
        print(f"{pattern:<16} rules engine {engine_s} s ({matches} matches); Python re {python}")
    out = write_report(report, args.out, "redos-")
    print(f"written to {os.path.relpath(out)}")


if __name__ == "__main__":
    main()
