"""The audit trail as a hash chain (21 CFR 11.10(e)): each entry's SM3 covers its fields and the previous
entry's SM3, so a row replaced, updated or deleted, or a tail cut off, no longer fits. The head (last id and
SM3) is kept in `audit_head` and anchored on chain at intervals (`audit_anchors`), so even a rewrite of the
whole table by someone who holds the database is caught up to the last anchor. See docs/threat-model.md.

Appends take the head's row lock first (an UPDATE of the single head row): writers of the index serialise on
it, so the chain has one order whichever process or thread writes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, cast

from sqlalchemy import Table, insert, select, text, update
from sqlalchemy.orm import Session

from ledger_service.canonical import canonical_json
from ledger_service.digests import sm3
from ledger_service.index.models import AuditAnchorRow, AuditHeadRow, AuditRow

__all__ = ["AuditRow", "FIELDS", "GENESIS", "Finding", "Verdict", "append", "entry_digest", "lock_head", "verify"]

FIELDS: Final = ("actor", "action", "record_id", "field", "old_value", "new_value", "reason")
GENESIS: Final = "0" * 64  # the "previous" of the first entry
_HEAD: Final = cast(Table, AuditHeadRow.__table__)
_TRAIL: Final = cast(Table, AuditRow.__table__)
# Built once (one per transaction that writes the index: building it cost more than running it).
_LOCK: Final = update(_HEAD).where(_HEAD.c.id == 1).values(last_id=_HEAD.c.last_id)
_LOCK_AND_READ: Final = _LOCK.returning(_HEAD.c.last_id, _HEAD.c.last_sm3)


def _at(moment: datetime) -> str:
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_digest(entry_id: int, at: datetime, fields: Mapping[str, Any], previous: str) -> str:
    """SM3 of an entry: its id, time, every field and the previous entry's SM3, as canonical JSON."""
    document = {"id": entry_id, "at": _at(at), "prev": previous, **{k: fields.get(k) for k in FIELDS}}
    return sm3(canonical_json(document)).hex()


def lock_head(session: Session) -> None:
    """Take the head's row lock now, for the rest of this transaction (the index's write lock, on SQLite): what
    the transaction reads after it, no other writer changes before it commits. Writers in several processes
    (docs/architecture.md, section 4) take it before they look up which of their records exist already."""
    session.execute(_LOCK)


def append(session: Session, entries: Sequence[Mapping[str, Any]], at: datetime | None = None) -> None:
    """Append entries (each with FIELDS, missing ones None) to the chain, in order, in this transaction."""
    if not entries:
        return
    moment = at or datetime.now(UTC)
    # One statement takes the head's row lock and reads it (UPDATE ... RETURNING: SQLite >= 3.35, PostgreSQL).
    head = session.execute(_LOCK_AND_READ).one_or_none()
    assert head is not None, "migration 0008 creates the audit head"
    last_id, previous = head.last_id, head.last_sm3
    rows = []
    for entry in entries:
        last_id += 1
        fields = {k: entry.get(k) for k in FIELDS}
        digest = entry_digest(last_id, moment, fields, previous)
        rows.append({"id": last_id, "at": moment, **fields, "prev_sm3": previous, "entry_sm3": digest})
        previous = digest
    session.execute(insert(_TRAIL), rows)  # Core: no per-row ORM bookkeeping
    session.execute(update(_HEAD).where(_HEAD.c.id == 1).values(last_id=last_id, last_sm3=previous))


@dataclass(frozen=True)
class Finding:
    """One way the trail does not fit: the first entry concerned (None: the table as a whole) and why."""

    entry_id: int | None
    code: str  # ENTRY_ALTERED | CHAIN_BROKEN | ENTRY_MISSING | TAIL_MISSING | ANCHOR_MISMATCH | TRIGGER_MISSING
    message: str


@dataclass(frozen=True)
class Verdict:
    entries: int
    head_id: int
    head_sm3: str
    anchored_id: int | None  # the last anchored head
    findings: list[Finding]

    @property
    def intact(self) -> bool:
        return not self.findings


def _walk(session: Session, chunk: int = 5000) -> Iterator[AuditRow]:
    after = 0
    while True:
        rows = list(session.scalars(select(AuditRow).where(AuditRow.id > after).order_by(AuditRow.id).limit(chunk)))
        if not rows:
            return
        yield from rows
        after = rows[-1].id


def verify(session: Session) -> Verdict:
    """Walk the whole trail: every entry's SM3 recomputed, every link and id checked, the tail against the head
    and the last anchored head, and the append-only triggers still in place. Reports the first entry of each
    kind of fault."""
    findings: list[Finding] = []
    seen: set[str] = set()

    def note(entry_id: int | None, code: str, message: str) -> None:
        if code not in seen:
            seen.add(code)
            findings.append(Finding(entry_id, code, message))

    expected_id, previous, count = 1, GENESIS, 0
    digests: dict[int, str] = {}
    for row in _walk(session):
        count += 1
        if row.id != expected_id:
            note(expected_id, "ENTRY_MISSING", f"entries {expected_id} to {row.id - 1} are missing")
        fields = {k: getattr(row, k) for k in FIELDS}
        if row.prev_sm3 != previous:
            note(row.id, "CHAIN_BROKEN", f"entry {row.id} does not follow the entry before it")
        if entry_digest(row.id, row.at, fields, row.prev_sm3 or "") != row.entry_sm3:
            note(row.id, "ENTRY_ALTERED", f"entry {row.id} is not what was written (its SM3 does not fit)")
        previous, expected_id = row.entry_sm3 or "", row.id + 1
        digests[row.id] = previous  # kept to check anchors; ~100 bytes an entry
    head = session.get(AuditHeadRow, 1)
    head_id, head_sm3 = (head.last_id, head.last_sm3) if head else (0, GENESIS)
    last_id = expected_id - 1
    if head_id > last_id:
        note(last_id + 1, "TAIL_MISSING", f"the head names entry {head_id}; the trail ends at {last_id}")
    elif head_id == last_id and head_sm3 != previous:
        note(last_id, "ENTRY_ALTERED", f"the last entry {last_id} is not the one the head names")
    anchored = session.scalars(select(AuditAnchorRow).order_by(AuditAnchorRow.entry_id.desc()).limit(1)).first()
    for anchor in session.scalars(select(AuditAnchorRow).order_by(AuditAnchorRow.entry_id)):
        if anchor.entry_id > last_id:
            note(last_id + 1, "TAIL_MISSING", f"entry {anchor.entry_id} was anchored; the trail ends at {last_id}")
        elif digests.get(anchor.entry_id) != anchor.entry_sm3:
            note(anchor.entry_id, "ANCHOR_MISMATCH", f"entry {anchor.entry_id} is not the one anchored")
    for missing in _missing_triggers(session):
        note(None, "TRIGGER_MISSING", f"the append-only trigger {missing} was dropped")
    return Verdict(count, head_id, head_sm3, anchored.entry_id if anchored else None, findings)


_SQLITE_TRIGGERS: Final = ("audit_trail_no_update", "audit_trail_no_delete")
_POSTGRES_TRIGGERS: Final = ("audit_trail_append_only",)


def _missing_triggers(session: Session) -> list[str]:
    dialect = session.get_bind().dialect.name
    expected: tuple[str, ...]
    if dialect == "sqlite":
        query = text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_trail'")
        expected = _SQLITE_TRIGGERS
    elif dialect == "postgresql":
        query = text("SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_trail'::regclass AND NOT tgisinternal")
        expected = _POSTGRES_TRIGGERS
    else:
        return []
    present = {name for (name,) in session.execute(query)}
    return [t for t in expected if t not in present]


def head(session: Session) -> tuple[int, str]:
    row = session.get(AuditHeadRow, 1)
    return (row.last_id, row.last_sm3) if row else (0, GENESIS)


def last_anchored(session: Session) -> int:
    anchored = session.scalars(select(AuditAnchorRow.entry_id).order_by(AuditAnchorRow.entry_id.desc()).limit(1))
    return anchored.first() or 0


def anchors(session: Session) -> list[AuditAnchorRow]:
    return list(session.scalars(select(AuditAnchorRow).order_by(AuditAnchorRow.entry_id)))


def add_anchor(session: Session, entry_id: int, entry_sm3: str, tx_hash: str, root: str) -> None:
    session.add(AuditAnchorRow(entry_id=entry_id, entry_sm3=entry_sm3, tx_hash=tx_hash, root=root,
                               at=datetime.now(UTC)))  # fmt: skip
