"""Audit legs the store would not take at shutdown, kept in a file until the next start.

The file holds one stored entry (already redacted, as ``AuditEntry``) per line as JSON, is created
owner-only (0600) and is appended to, so several failed shutdowns keep all their legs. At start,
``load_spilled`` reads and removes it and the recorder writes its entries before any new leg (a row
the store refuses is stored degraded, a store still failing gets them spilled again at shutdown).
Only a crash of the process before they are written loses them, as it loses any buffered leg.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
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


def load_spilled(path: Path) -> list[AuditEntry]:
    """The entries spilled at ``path``, in order, and the file removed: the caller hands them to the
    recorder (``AuditRecorder.resume``), which writes them first and spills them again at shutdown
    when the store still refuses them. An unreadable line is logged and skipped.

    Raises:
        OSError: the file exists but cannot be read or removed (it is left as it is).
    """
    if not path.exists():
        return []
    entries: list[AuditEntry] = []
    for number, line in enumerate(path.read_bytes().splitlines(), 1):
        try:
            entries.append(AuditEntry(**orjson.loads(line)))
        except (ValueError, TypeError):
            log.error("audit spill %s: line %d is not an audit entry; skipped", path.name, number)
    path.unlink()
    return entries
