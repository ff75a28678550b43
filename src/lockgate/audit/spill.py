"""Audit legs the store would not take at shutdown, kept in a file until the next start.

The file holds one stored entry (already redacted, as ``AuditEntry``) per line as JSON, is created
owner-only (0600) and is appended to, so several failed shutdowns keep all their legs. At start,
``restore_spilled`` saves its entries and removes it; when the store still fails, the file stays
for the start after.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import orjson

from lockgate.domain.audit import AuditEntry

log = logging.getLogger(__name__)
SPILL_FILE = "audit-spill.jsonl"


def spill_entries(path: Path, entries: Sequence[AuditEntry]) -> None:
    """Append ``entries`` to the spill file at ``path`` (created 0600), flushed to disk.

    Raises:
        OSError: the file cannot be written (the caller logs how many legs are lost).
    """
    if not entries:
        return
    lines = b"".join(orjson.dumps(dataclasses.asdict(e)) + b"\n" for e in entries)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, lines)
        os.fsync(fd)
    finally:
        os.close(fd)


def restore_spilled(path: Path, save: Callable[[Sequence[AuditEntry]], None]) -> int:
    """Save the entries spilled at ``path`` through ``save`` and remove the file; returns how many.

    When ``save`` fails the file is left in place (and the error raised) so the legs are not lost;
    an unreadable line is logged and skipped.
    """
    if not path.exists():
        return 0
    entries: list[AuditEntry] = []
    for number, line in enumerate(path.read_bytes().splitlines(), 1):
        try:
            entries.append(AuditEntry(**orjson.loads(line)))
        except (ValueError, TypeError):
            log.error("audit spill %s: line %d is not an audit entry; skipped", path.name, number)
    save(entries)  # one call: the store's save is one transaction, so a retry never duplicates
    path.unlink()
    return len(entries)
