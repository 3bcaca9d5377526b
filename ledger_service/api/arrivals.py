"""Requests that arrived and were not answered, kept where a crash of the process cannot take them.

The access entry of a request goes into the hash-chained audit trail before its answer leaves
(api/observability.py). A request that kills the process (or that is in flight when the process is killed) has
no answer, so it would leave no entry. Each request therefore writes one line on arrival, and one when its
entry is durable, to an append-only journal: each line is a single write(2), which the kernel keeps once the call
returns, so a killed or crashed process loses none (a power cut can; docs/threat-model.md). When the service
starts again, every arrival without its line of completion becomes an audit entry "no answer" in the trail, and
the journal starts afresh. See docs/architecture.md, "The audit trail".
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

NO_ANSWER: Final = "the service stopped before answering"
NO_ANSWER_VALUE: Final = "no answer"  # the `new_value` of such an entry, where others hold the HTTP status
COMPACT_AT_BYTES: Final = 8 << 20


class ArrivalJournal:
    """One process's journal of requests in flight. Used from the event loop's thread only."""

    def __init__(self, path: Path, compact_at_bytes: int = COMPACT_AT_BYTES) -> None:
        self.path = path
        self.compact_at_bytes = compact_at_bytes
        self._run = secrets.token_hex(8)  # this process's arrivals, apart from every other run's
        self._open: dict[int, bytes] = {}  # arrival number -> its line, until answered
        self._next = 0
        self._size = 0
        self._fd = self._create(path)

    @staticmethod
    def _create(path: Path) -> int:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        return fd

    def arrive(self, method: str, path: str) -> int:
        """Note a request's arrival (before its body is read or its caller known); returns its number."""
        number = self._next
        self._next += 1
        arrival = {"run": self._run, "n": number, "at": _now(), "method": method, "path": path[:512]}
        line = json.dumps(arrival).encode() + b"\n"
        self._open[number] = line
        self._write(line)
        return number

    def answered(self, number: int) -> None:
        """Note that the request's access entry is durable in the audit trail."""
        if self._open.pop(number, None) is not None:
            self._write(b'{"done":%d}\n' % number)
            if self._size >= self.compact_at_bytes:
                self._compact()

    def close(self) -> None:
        os.close(self._fd)

    def _write(self, line: bytes) -> None:
        os.write(self._fd, line)
        self._size += len(line)

    def _compact(self) -> None:
        """Start the file again with only the requests still in flight (renamed over the old one at once)."""
        fresh = self.path.with_name(self.path.name + ".new")
        fd = self._create(fresh)
        lines = b"".join(self._open.values())
        os.write(fd, lines)
        os.replace(fresh, self.path)
        os.close(self._fd)
        self._fd, self._size = fd, len(lines)


def unanswered(path: Path) -> list[dict[str, Any]]:
    """The arrivals a journal left behind with no line of completion (a torn last line is skipped)."""
    if not path.exists():
        return []
    arrivals: dict[int, dict[str, Any]] = {}
    for raw in path.read_bytes().splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue  # the process died inside a write
        if not isinstance(line, dict):
            continue
        if isinstance(line.get("done"), int):
            arrivals.pop(line["done"], None)
        elif isinstance(line.get("n"), int):
            arrivals[line["n"]] = line
    return [arrivals[n] for n in sorted(arrivals)]


def recover(path: Path, recorded: Callable[[], set[str]], append: Callable[[Sequence[dict[str, Any]]], None]) -> int:
    """Turn the arrivals a previous process left unanswered into audit entries (through `append`, which makes
    them durable), skipping those whose `reason` the trail holds already (`recorded`: a start that died right
    after recovering enters none twice); returns how many. Call before a new journal is opened at `path`."""
    known = recorded()
    entries = []
    for a in unanswered(path):
        reason = f"{NO_ANSWER} (arrival {a.get('run', '?')}:{a['n']}, {a.get('at', '?')})"
        if reason not in known:
            field = f"{a.get('method', '?')} {a.get('path', '?')}"
            entries.append(
                {"actor": "unknown", "action": "api", "field": field, "new_value": NO_ANSWER_VALUE, "reason": reason}
            )
    if entries:
        append(entries)
    return len(entries)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")
