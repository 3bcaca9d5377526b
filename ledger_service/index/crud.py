"""Every write to and read from the SQL index. Keyword-only functions over a session; each change of a
record's state writes its audit entry in the same transaction.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session, selectinload

from ledger_service.digests import sm3
from ledger_service.errors import LedgerError
from ledger_service.index import audit as audit_chain
from ledger_service.index import sealing
from ledger_service.index.models import (
    AnchorRow,
    ApiKeyRow,
    AttachmentRow,
    AttemptRow,
    AuditRow,
    Base,
    CertificateRow,
    DeadLetterRow,
    EscrowPolicyRow,
    EscrowRow,
    OperatorRow,
    PinRow,
    RecordRow,
    RefusalRow,
)
from ledger_service.records import RECORD_TYPE_CODES, AnchoredCertificate, SignerStanding
from ledger_service.store.cid import cid_of_bytes


def _now() -> datetime:
    return datetime.now(UTC)


AUDIT_FIELDS = audit_chain.FIELDS


def table(model: type[Base]) -> Table:
    """A mapped class's table: Core inserts of many rows skip the ORM's per-row bookkeeping."""
    return cast(Table, model.__table__)


def audit_many(*, session: Session, entries: Sequence[dict[str, Any]]) -> None:
    """Append audit entries (each with AUDIT_FIELDS; all share one timestamp) to the hash chain."""
    audit_chain.append(session, entries)


def audit(
    *,
    session: Session,
    actor: str,
    action: str,
    record_id: str | None = None,
    field: str | None = None,
    old_value: str | None = None,
    new_value: str | None = None,
    reason: str | None = None,
) -> None:
    """Append one audit entry (21 CFR 11.10(e): who, when, what, old and new value, why)."""
    entry = {"actor": actor, "action": action, "record_id": record_id, "field": field}
    audit_chain.append(session, [{**entry, "old_value": old_value, "new_value": new_value, "reason": reason}])


@dataclass(frozen=True)
class NewAttachment:
    name: str
    media_type: str
    size: int
    sm3: str
    sha256: str
    cid: str | None


@dataclass(frozen=True)
class NewRecord:
    record_id: str
    record_type: str
    sha256: str
    lab_member: str
    lot: str | None
    product: str | None
    measured_at: datetime
    confidentiality: str
    canonical: bytes
    cid: str | None
    attachments: Sequence[NewAttachment]
    actor: str
    pinned: bool = True  # its content is in the store it must end up in (else the pin outbox holds it)


def add_records(*, session: Session, records: Sequence[NewRecord], audit: bool = True) -> list[bool]:
    """Insert each record once, with its attachments and its audit entry, in one statement per table (the
    record id is the idempotency key). Returns, per record, whether it was created. With `audit=False` the
    caller appends `creation_entries` itself (to make one append of all its entries)."""
    known = existing_record_ids(session=session, record_ids=[r.record_id for r in records])
    created: list[bool] = []
    fresh: list[NewRecord] = []
    for r in records:
        created.append(r.record_id not in known)
        if r.record_id not in known:
            known.add(r.record_id)
            fresh.append(r)
    if not fresh:
        return created
    now = _now()
    session.execute(
        insert(table(RecordRow)),
        [
            {
                "id": r.record_id,
                "record_type": r.record_type,
                "sha256": r.sha256,
                "lab_member": r.lab_member,
                "lot": r.lot,
                "product": r.product,
                "measured_at": r.measured_at,
                "received_at": now,
                "confidentiality": r.confidentiality,
                "canonical": sealing.stored_canonical(session, r.record_id, r.canonical, r.confidentiality),
                "cid": r.cid,
                "status": "accepted",
                "superseded_by": None,
                "pinned_at": now if r.pinned else None,
            }
            for r in fresh
        ],
    )
    attachments = [
        {"record_id": r.record_id, "position": i, **asdict(a)} for r in fresh for i, a in enumerate(r.attachments)
    ]
    if attachments:
        session.execute(insert(table(AttachmentRow)), attachments)
    if audit:
        audit_many(session=session, entries=creation_entries(records, created))
    return created


def creation_entries(records: Sequence[NewRecord], created: Sequence[bool]) -> list[dict[str, Any]]:
    """The audit entries of the records `add_records` created."""
    return [
        {"actor": r.actor, "action": "create", "record_id": r.record_id, "new_value": r.record_type}
        for r, c in zip(records, created, strict=True)
        if c
    ]


def add_record(*, session: Session, **fields: Any) -> tuple[RecordRow, bool]:
    """`add_records` for one record (fields as NewRecord's); returns (row, created)."""
    created = add_records(session=session, records=[NewRecord(**fields)])[0]
    row = session.get(RecordRow, fields["record_id"])
    assert row is not None
    return row, created


@dataclass(frozen=True)
class Unpinned:
    record_id: str
    canonical: bytes | None  # a public record's canonical JSON, pinned from here; None for a confidential one
    spooled_cids: list[str]  # attachments; for a confidential record also its ciphertext and escrow envelope


def unpinned_content(*, session: Session, limit: int) -> list[Unpinned]:
    """Records whose content is not pinned yet, oldest first. A confidential record's plaintext never leaves
    the index: its ciphertext and envelope (spooled at submission) are pinned instead."""
    rows = session.execute(
        select(RecordRow, EscrowRow.envelope_cid)
        .outerjoin(EscrowRow, EscrowRow.record_id == RecordRow.id)
        .where(RecordRow.pinned_at.is_(None))
        .order_by(RecordRow.received_at)
        .limit(limit)
        .options(selectinload(RecordRow.attachments))
    ).all()
    out = []
    for r, envelope_cid in rows:
        attachments = [a.cid for a in r.attachments if a.cid]
        if envelope_cid is None:
            out.append(Unpinned(r.id, r.canonical, attachments))
        else:
            out.append(Unpinned(r.id, None, [c for c in (r.cid, envelope_cid) if c] + attachments))
    return out


@dataclass(frozen=True)
class NewEscrow:
    record_id: str
    policy_sm3: str
    lot_sm3: str
    product_sm3: str
    envelope: bytes
    envelope_cid: str
    record_ciphertext_cid: str


def add_escrows(*, session: Session, escrows: Sequence[NewEscrow]) -> None:
    if escrows:
        fields = ("record_id", "policy_sm3", "lot_sm3", "product_sm3", "envelope", "envelope_cid")
        session.execute(insert(table(EscrowRow)), [{f: getattr(e, f) for f in fields} for e in escrows])


def escrows_in_scope(
    *,
    session: Session,
    lot_sm3: str | None = None,
    product_sm3: str | None = None,
    record_ids: Sequence[str] | None = None,
) -> list[EscrowRow]:
    """Escrow envelopes of the confidential records a recall scope names (by the digests sealed with them)."""
    query = select(EscrowRow).order_by(EscrowRow.record_id)
    if lot_sm3 is not None:
        query = query.where(EscrowRow.lot_sm3 == lot_sm3)
    if product_sm3 is not None:
        query = query.where(EscrowRow.product_sm3 == product_sm3)
    if record_ids is not None:
        query = query.where(EscrowRow.record_id.in_(list(record_ids)))
    return list(session.scalars(query))


def add_refusals(*, session: Session, refusals: Sequence[tuple[str, Any, list[str]]]) -> None:
    """Note submissions refused at ingest: (actor, claimed record type, fault codes)."""

    if refusals:
        now = _now()
        rows = [
            {
                "at": now,
                "actor": actor,
                # a known type only (a refused body may carry anything there, a list or an object too)
                "record_type": record_type
                if isinstance(record_type, str) and record_type in RECORD_TYPE_CODES
                else None,
                "missing_mandatory": "MISSING_FIELD" in codes,
                "codes": codes,
            }
            for actor, record_type, codes in refusals
        ]
        session.execute(insert(table(RefusalRow)), rows)


def get_escrow(*, session: Session, record_id: str) -> EscrowRow | None:
    return session.get(EscrowRow, record_id)


def add_escrow_policy(*, session: Session, digest: str, document: bytes, tx_hash: str) -> None:
    if session.get(EscrowPolicyRow, digest) is None:
        session.add(EscrowPolicyRow(sm3=digest, document=document, tx_hash=tx_hash, created_at=_now()))


def current_escrow_policy(*, session: Session) -> EscrowPolicyRow | None:
    return session.scalars(select(EscrowPolicyRow).order_by(EscrowPolicyRow.created_at.desc()).limit(1)).first()


def mark_pinned(*, session: Session, record_ids: Sequence[str]) -> None:
    if record_ids:
        session.execute(update(RecordRow).where(RecordRow.id.in_(list(record_ids))).values(pinned_at=_now()))


def add_pins(*, session: Session, cids: Sequence[str], replication_min: int) -> None:
    """Content handed to a replicating store: `pinning` until enough nodes hold it. A CID handed again before it
    was replicated (pushed anew: the cluster lost it, or the node it was added to died) counts from now."""
    if not cids:
        return
    now = _now()
    known = set(session.scalars(select(PinRow.cid).where(PinRow.cid.in_(list(cids)))))
    fresh = [c for c in dict.fromkeys(cids) if c not in known]
    if fresh:
        session.execute(
            insert(table(PinRow)),
            [{"cid": c, "replication_min": replication_min, "state": "pinning", "pinned_at": now} for c in fresh],
        )
    if known:
        session.execute(
            update(PinRow)
            .where(PinRow.cid.in_(list(known)), PinRow.state != "replicated")
            .values(state="pinning", pinned_at=now, replication_min=replication_min)
        )


def pins_to_check(*, session: Session, limit: int, checked_before: datetime) -> list[tuple[str, datetime]]:
    """(CID, when it was handed to the store): those not replicated yet, then replicated ones not checked since
    `checked_before`, least recently checked first."""
    waiting = list(
        session.execute(
            select(PinRow.cid, PinRow.pinned_at)
            .where(PinRow.state != "replicated")
            .order_by(PinRow.checked_at.is_not(None), PinRow.checked_at, PinRow.cid)
            .limit(limit)
        )
    )
    if len(waiting) < limit:
        waiting += session.execute(
            select(PinRow.cid, PinRow.pinned_at)
            .where(PinRow.state == "replicated", PinRow.checked_at < checked_before)
            .order_by(PinRow.checked_at)
            .limit(limit - len(waiting))
        ).all()
    return [(str(c), as_utc(at)) for c, at in waiting]


def public_canonicals(*, session: Session, cids: Sequence[str]) -> list[bytes]:
    """The canonical JSON of the public records whose CID is among `cids` (the index holds it, not the spool)."""
    if not cids:
        return []
    rows = session.scalars(select(RecordRow.canonical).where(RecordRow.cid.in_(list(cids))))
    wanted = set(cids)
    return [c for c in rows if cid_of_bytes(c) in wanted]


def set_pin_states(*, session: Session, states: Sequence[tuple[str, int, int, str]]) -> None:
    """(cid, peers_pinned, replication_min, state) as the store reported them now."""
    now = _now()
    for cid, peers, rmin, state in states:
        row = session.get(PinRow, cid)
        if row is None:
            continue
        row.peers_pinned, row.replication_min, row.state, row.checked_at = peers, rmin, state, now
        if state == "replicated" and row.replicated_at is None:
            row.replicated_at = now


def pin_counts(*, session: Session) -> dict[str, int]:
    """How many CIDs are in each replication state."""
    rows = session.execute(select(PinRow.state, func.count()).group_by(PinRow.state)).all()
    return {str(state): int(n) for state, n in rows}


def pins_of(*, session: Session, cids: Sequence[str]) -> list[PinRow]:
    return list(session.scalars(select(PinRow).where(PinRow.cid.in_(list(cids))).order_by(PinRow.cid)))


def existing_record_ids(*, session: Session, record_ids: Sequence[str]) -> set[str]:
    """Which of `record_ids` the index holds already (one query)."""
    if not record_ids:
        return set()
    return set(session.scalars(select(RecordRow.id).where(RecordRow.id.in_(list(record_ids)))))


@dataclass(frozen=True)
class NewAnchor:
    """Where one record was anchored; `root`, `leaf_index` and `proof` are empty for tier A."""

    record_id: str
    tier: str
    chain_id: int
    contract: str
    tx_hash: str
    block_number: int
    block_time: int
    root: str | None
    leaf_index: int | None
    proof: list[str]
    block_hash: str | None = None


def add_anchors(*, session: Session, anchors: Sequence[NewAnchor], actor: str) -> int:
    """Record anchors, each once, and mark their records anchored (with audit entries); returns how many
    were new. Two reads and one statement per table, whatever the batch size. A record revoked or superseded
    in the index keeps that status (its anchor is put back after its block was lost: see `requeue_anchors`)."""
    ids = [a.record_id for a in anchors]
    have = set(session.scalars(select(AnchorRow.record_id).where(AnchorRow.record_id.in_(ids))))
    found = session.execute(select(RecordRow.id, RecordRow.status).where(RecordRow.id.in_(ids)))
    status: dict[str, str] = dict(found.all())  # not dict(found): a Result has keys(), the column names
    fresh: dict[str, NewAnchor] = {}
    for a in anchors:
        if a.record_id not in have and a.record_id not in fresh:
            if a.record_id not in status:
                raise KeyError(a.record_id)
            fresh[a.record_id] = a
    if not fresh:
        return 0
    session.execute(insert(table(AnchorRow)), [{**asdict(a), "confirmed": False} for a in fresh.values()])
    kept = {r for r in fresh if status[r] in ("revoked", "superseded")}
    session.execute(
        update(RecordRow).where(RecordRow.id.in_([r for r in fresh if r not in kept])).values(status="anchored")
    )
    audit_many(
        session=session,
        entries=[
            {"actor": actor, "action": "status", "record_id": r, "field": "status", "old_value": status[r],
             "new_value": "anchored", "reason": f"tier {a.tier} {a.tx_hash}"}
            if r not in kept else
            {"actor": actor, "action": "anchor", "record_id": r, "field": "tx_hash", "new_value": a.tx_hash,
             "reason": f"tier {a.tier}, anchored again; the record stays {status[r]}"}
            for r, a in fresh.items()
        ],
    )  # fmt: skip
    return len(fresh)


def unconfirmed_blocks(*, session: Session, head: int, limit: int) -> list[tuple[int, str | None]]:
    """(block number, block hash) of the blocks that anchors name and that are not final yet, or that lie
    beyond the chain's `head` (a node restarted from older state), newest first; at most `limit`."""
    query = (
        select(AnchorRow.block_number, AnchorRow.block_hash)
        .where(AnchorRow.confirmed.is_(False) | (AnchorRow.block_number > head))
        .group_by(AnchorRow.block_number, AnchorRow.block_hash)
        .order_by(AnchorRow.block_number.desc())
        .limit(limit)
    )
    return [(int(n), h) for n, h in session.execute(query)]


def _in_block(block_number: int, block_hash: str | None) -> Any:
    same_hash = AnchorRow.block_hash.is_(None) if block_hash is None else AnchorRow.block_hash == block_hash
    return (AnchorRow.block_number == block_number) & same_hash


def anchor_transactions(*, session: Session, block_number: int, block_hash: str | None) -> list[str]:
    """The anchoring transactions the index places in one block."""
    query = select(AnchorRow.tx_hash).where(_in_block(block_number, block_hash)).distinct().order_by(AnchorRow.tx_hash)
    return list(session.scalars(query))


def confirmed_blocks(*, session: Session, below: int | None, limit: int) -> list[tuple[int, str | None]]:
    """(block number, block hash) of the blocks holding final anchors, newest first, below block `below` (None:
    from the newest); at most `limit`."""
    query = select(AnchorRow.block_number, AnchorRow.block_hash).where(AnchorRow.confirmed.is_(True))
    if below is not None:
        query = query.where(AnchorRow.block_number < below)
    query = query.group_by(AnchorRow.block_number, AnchorRow.block_hash).order_by(AnchorRow.block_number.desc())
    return [(int(n), h) for n, h in session.execute(query.limit(limit))]


def unconfirm_anchors(*, session: Session, block_number: int, block_hash: str | None) -> None:
    """A final block the chain no longer holds: its anchors are compared with the chain again."""
    session.execute(update(AnchorRow).where(_in_block(block_number, block_hash)).values(confirmed=False))


def confirm_anchors(*, session: Session, block_number: int, block_hash: str) -> None:
    """The block is final: its anchors are not checked against the chain again."""
    session.execute(update(AnchorRow).where(_in_block(block_number, block_hash)).values(confirmed=True))


def move_anchors(
    *, session: Session, tx_hash: str, block_number: int, block_hash: str, block_time: int, actor: str
) -> int:
    """The chain holds the transaction in another block than the index says (a reorg mined it again): its
    anchors point there now (an anchor without a block hash gets it). Returns how many anchors moved."""
    rows = list(session.scalars(select(AnchorRow).where(AnchorRow.tx_hash == tx_hash)))
    moved = [a for a in rows if (a.block_number, a.block_hash or block_hash) != (block_number, block_hash)]
    audit_many(
        session=session,
        entries=[{"actor": actor, "action": "anchor_moved", "record_id": a.record_id, "field": "block",
                  "old_value": f"{a.block_number} {a.block_hash}", "new_value": f"{block_number} {block_hash}",
                  "reason": f"{tx_hash} was mined again in another block"} for a in moved],
    )  # fmt: skip
    session.execute(
        update(AnchorRow)
        .where(AnchorRow.tx_hash == tx_hash)
        .values(block_number=block_number, block_hash=block_hash, block_time=block_time, confirmed=False)
    )
    return len(moved)


def requeue_anchors(*, session: Session, tx_hash: str, actor: str, reason: str, reopen: bool = True) -> list[str]:
    """The chain lost the transaction: its anchors are deleted and its anchored records put back in the
    anchoring queue (accepted), each with an audit entry; with `reopen`, its attempt is open again, for
    `recover` to resend it or abandon it and anchor its records anew (else it is abandoned). Returns the
    records requeued. A revoked or superseded record keeps its status: it loses its anchor only."""
    rows = session.execute(
        select(AnchorRow.record_id, RecordRow.status)
        .join(RecordRow, RecordRow.id == AnchorRow.record_id)
        .where(AnchorRow.tx_hash == tx_hash)
    ).all()
    ids = [r for r, _ in rows]
    back = [r for r, status in rows if status == "anchored"]
    session.execute(delete(AnchorRow).where(AnchorRow.tx_hash == tx_hash))
    if back:
        session.execute(update(RecordRow).where(RecordRow.id.in_(back)).values(status="accepted"))
    audit_many(
        session=session,
        entries=[{"actor": actor, "action": "anchor_lost", "record_id": r, "field": "status", "old_value": status,
                  "new_value": "accepted" if status == "anchored" else status, "reason": reason}
                 for r, status in rows],
    )  # fmt: skip
    attempt = session.get(AttemptRow, tx_hash)
    if attempt is not None and ids:
        attempt.state = "sending" if reopen else "abandoned"
    return back


def add_anchor(*, session: Session, actor: str, **anchor: Any) -> bool:
    """One anchor (see `add_anchors`); returns whether it was new."""
    return add_anchors(session=session, anchors=[NewAnchor(**anchor)], actor=actor) == 1


def set_status(
    *,
    session: Session,
    record_id: str,
    status: str,
    actor: str,
    reason: str | None,
    superseded_by: str | None = None,
) -> None:
    row = session.get(RecordRow, record_id)
    if row is None:
        raise KeyError(record_id)
    audit(
        session=session,
        actor=actor,
        action="status",
        record_id=record_id,
        field="status",
        old_value=row.status,
        new_value=status,
        reason=reason,
    )
    row.status = status
    if superseded_by is not None:
        row.superseded_by = superseded_by


def add_dead_letters(*, session: Session, record_ids: Sequence[str], code: str, reason: str, actor: str) -> None:
    """Take refused records out of the anchoring queue, with the contracts' refusal."""
    now = _now()
    session.execute(update(RecordRow).where(RecordRow.id.in_(list(record_ids))).values(status="dead_letter"))
    session.execute(
        insert(table(DeadLetterRow)), [{"record_id": r, "code": code, "reason": reason, "at": now} for r in record_ids]
    )
    audit_many(
        session=session,
        entries=[{"actor": actor, "action": "dead_letter", "record_id": r, "new_value": code, "reason": reason}
                 for r in record_ids],
    )  # fmt: skip


def dead_letters(*, session: Session, lab: str | None = None) -> list[tuple[DeadLetterRow, str]]:
    """(dead letter, lab) pairs, oldest first; with `lab`, that lab's only."""
    query = select(DeadLetterRow, RecordRow.lab_member).join(RecordRow, RecordRow.id == DeadLetterRow.record_id)
    if lab is not None:
        query = query.where(RecordRow.lab_member == lab)
    return [(d, str(m)) for d, m in session.execute(query.order_by(DeadLetterRow.at, DeadLetterRow.record_id))]


def retry_dead_letters(*, session: Session, record_ids: Sequence[str], actor: str) -> int:
    """Put dead letters back in the anchoring queue; returns how many were there."""
    ids = list(session.scalars(select(DeadLetterRow.record_id).where(DeadLetterRow.record_id.in_(list(record_ids)))))
    if ids:
        session.execute(update(RecordRow).where(RecordRow.id.in_(ids)).values(status="accepted"))
        session.execute(delete(DeadLetterRow).where(DeadLetterRow.record_id.in_(ids)))
        audit_many(session=session, entries=[{"actor": actor, "action": "retry", "record_id": r} for r in ids])
    return len(ids)


def get_record(*, session: Session, record_id: str) -> RecordRow | None:
    return session.get(RecordRow, record_id)


def canonical(*, session: Session, row: RecordRow) -> bytes:
    """The record's canonical JSON (a confidential one is kept sealed: index/sealing.py)."""
    return sealing.canonical_of(session, row.id, row.canonical)


def awaiting_anchor(*, session: Session) -> list[tuple[str, str, str, bytes]]:
    """(id, record type, lab, canonical JSON) of every accepted record, oldest first: the anchoring queue."""
    query = (
        select(RecordRow.id, RecordRow.record_type, RecordRow.lab_member, RecordRow.canonical)
        .where(RecordRow.status == "accepted")
        .order_by(RecordRow.measured_at, RecordRow.id)
    )
    return [(i, t, lab, sealing.canonical_of(session, i, c)) for i, t, lab, c in session.execute(query)]


def list_records(
    *,
    session: Session,
    record_type: str | None = None,
    lot: str | None = None,
    product: str | None = None,
    status: str | None = None,
    measured_from: datetime | None = None,
    measured_until: datetime | None = None,
    visible_to: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[RecordRow]:
    """Records in measurement order; `visible_to` leaves out other members' confidential records."""
    query = select(RecordRow).order_by(RecordRow.measured_at, RecordRow.id)
    for column, value in ((RecordRow.record_type, record_type), (RecordRow.lot, lot), (RecordRow.product, product)):
        if value is not None:
            query = query.where(column == value)
    if status is not None:
        query = query.where(RecordRow.status == status)
    if measured_from is not None:
        query = query.where(RecordRow.measured_at >= utc_instant(measured_from))
    if measured_until is not None:
        query = query.where(RecordRow.measured_at <= utc_instant(measured_until))
    if visible_to is not None:
        query = query.where((RecordRow.confidentiality == "public") | (RecordRow.lab_member == visible_to))
    return list(session.scalars(query.limit(limit).offset(offset)))


def audit_trail(*, session: Session, record_id: str) -> list[AuditRow]:
    return list(session.scalars(select(AuditRow).where(AuditRow.record_id == record_id).order_by(AuditRow.id)))


def add_operator(*, session: Session, lab_member: str, operator_id: str, actor: str) -> None:
    if session.get(OperatorRow, (lab_member, operator_id)) is None:
        session.add(OperatorRow(lab_member=lab_member, operator_id=operator_id))
        audit(session=session, actor=actor, action="add_operator", field=lab_member, new_value=operator_id)


def add_certificate(
    *,
    session: Session,
    record_id: str,
    instrument_id: str,
    valid_from: datetime,
    valid_until: datetime,
    external: bool = False,
) -> None:
    """Know a calibration certificate: a ledger record, or an external traceability root."""
    if session.get(CertificateRow, record_id) is None:
        session.add(
            CertificateRow(
                record_id=record_id,
                external=external,
                instrument_id=instrument_id,
                valid_from=valid_from,
                valid_until=valid_until,
            )
        )


def get_certificate(*, session: Session, record_id: str) -> CertificateRow | None:
    return session.get(CertificateRow, record_id)


def issue_api_key(*, session: Session, member: str, account: str, actor: str) -> str:
    """A new API key for `member`, returned once; the index keeps only its SM3."""
    key = "qlk_" + secrets.token_urlsafe(32)
    session.add(ApiKeyRow(key_sm3=sm3(key.encode()).hex(), member=member, account=account, created_at=_now()))
    audit(session=session, actor=actor, action="issue_api_key", field=member, new_value=account)
    return key


def api_keys(*, session: Session, member: str | None = None) -> list[ApiKeyRow]:
    """Every API key (or one member's), oldest first; the index holds only their SM3."""
    query = select(ApiKeyRow).order_by(ApiKeyRow.created_at, ApiKeyRow.key_sm3)
    if member is not None:
        query = query.where(ApiKeyRow.member == member)
    return list(session.scalars(query))


def revoke_api_key(*, session: Session, key_sm3: str, actor: str, at: datetime | None = None) -> bool:
    """Mark a key revoked; False when it was revoked already."""
    row = session.get(ApiKeyRow, key_sm3)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = at or _now()
    audit(session=session, actor=actor, action="revoke_api_key", field=row.member, old_value=key_sm3[:16])
    return True


def record_ids_starting(*, session: Session, prefix: str, limit: int = 2) -> list[str]:
    """Up to `limit` record ids that start with `prefix` (lower-case hex)."""
    query = select(RecordRow.id).where(RecordRow.id.startswith(prefix, autoescape=True)).order_by(RecordRow.id)
    return list(session.scalars(query.limit(limit)))


def member_of_key(*, session: Session, key: str) -> ApiKeyRow | None:
    """The member an API key belongs to, if the key is known and not revoked."""
    row = session.get(ApiKeyRow, sm3(key.encode()).hex())
    return row if row is not None and row.revoked_at is None else None


def add_attempt(
    *, session: Session, tx_hash: str, tier: str, sender: str, nonce: int, record_ids: list[str], raw_tx: bytes
) -> None:
    session.add(
        AttemptRow(
            tx_hash=tx_hash,
            tier=tier,
            sender=sender,
            nonce=nonce,
            record_ids=record_ids,
            raw_tx=raw_tx,
            state="sending",
            created_at=_now(),
        )
    )


def open_attempts(*, session: Session) -> list[AttemptRow]:
    return list(
        session.scalars(select(AttemptRow).where(AttemptRow.state == "sending").order_by(AttemptRow.created_at))
    )


def close_attempt(*, session: Session, tx_hash: str, state: str) -> None:
    row = session.get(AttemptRow, tx_hash)
    if row is not None:
        row.state = state


# Built once: building a statement per lookup (SQLAlchemy's coercions) cost more than running it.
_IS_OPERATOR = select(OperatorRow.operator_id).where(
    OperatorRow.lab_member == bindparam("lab"), OperatorRow.operator_id == bindparam("operator")
)
_CERTIFICATE = (
    select(
        CertificateRow.external,
        CertificateRow.instrument_id,
        CertificateRow.valid_from,
        CertificateRow.valid_until,
        RecordRow.status,
    )
    .outerjoin(RecordRow, RecordRow.id == CertificateRow.record_id)
    .where(CertificateRow.record_id == bindparam("record_id"))
)


class IndexValidationContext:
    """The ledger facts of the SQL index, as record validation asks for them; a signer's standing is the
    chain's (`signers`, from the service), which the index does not hold."""

    def __init__(self, session: Session, signers: Callable[[str, str, bytes], SignerStanding] | None = None) -> None:
        self.session = session
        self._signers = signers
        self._certificates: dict[str, AnchoredCertificate | None] = {}
        self._operators: dict[tuple[str, str], bool] = {}
        self._standings: dict[tuple[str, str, bytes], SignerStanding] = {}

    def certificate(self, record_id: str) -> AnchoredCertificate | None:
        # Records of one batch share a handful of certificates and operators: look each up once.
        if record_id not in self._certificates:
            self._certificates[record_id] = self._certificate(record_id)
        return self._certificates[record_id]

    def is_operator(self, lab_member_id: str, operator_id: str) -> bool:
        key = (lab_member_id, operator_id)
        if key not in self._operators:
            found = self.session.execute(_IS_OPERATOR, {"lab": lab_member_id, "operator": operator_id})
            self._operators[key] = found.first() is not None  # Core: no identity map
        return self._operators[key]

    def signer_standing(self, lab_member_id: str, signer: str, public_key: bytes) -> SignerStanding:
        if self._signers is None:  # nothing to ask: no signature is taken on trust
            return SignerStanding.NOT_ENROLLED
        key = (lab_member_id, signer, public_key)
        if key not in self._standings:
            self._standings[key] = self._signers(*key)
        return self._standings[key]

    def _certificate(self, record_id: str) -> AnchoredCertificate | None:
        row = self.session.execute(_CERTIFICATE, {"record_id": record_id}).first()  # the certificate, its status
        if row is None:
            return None
        if not row.external and row.status != "anchored":
            return None
        return AnchoredCertificate(row.instrument_id, as_utc(row.valid_from), as_utc(row.valid_until))


def utc_instant(moment: datetime) -> datetime:
    """A filter's instant in UTC, the zone every stored time is in (SQLite keeps no offset: an instant given
    as +00:01 must compare as the UTC time it is). A time without an offset is taken as UTC."""
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def as_utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes for timezone-aware columns; every stored time is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def status_indexes(*, session: Session, member: str, record_ids: Sequence[str], size: int) -> dict[str, int]:
    """Each record's index in `member`'s status lists, allocated in order on first use (at most `size`)."""
    from ledger_service.index.models import StatusEntryRow

    rows = session.scalars(
        select(StatusEntryRow).where(StatusEntryRow.member == member, StatusEntryRow.record_id.in_(list(record_ids)))
    )
    out = {r.record_id: r.idx for r in rows}
    last = session.scalar(select(func.max(StatusEntryRow.idx)).where(StatusEntryRow.member == member))
    nxt = -1 if last is None else int(last)
    for record_id in dict.fromkeys(record_ids):
        if record_id not in out:
            nxt += 1
            if nxt >= size:
                raise LedgerError(f"{member}'s status list is full ({size} entries)")
            session.add(StatusEntryRow(member=member, idx=nxt, record_id=record_id))
            out[record_id] = nxt
    return out


def status_entries(*, session: Session, member: str) -> list[tuple[int, str]]:
    """(index, record id) of every certificate `member` issued, by index."""
    from ledger_service.index.models import StatusEntryRow

    rows = session.scalars(select(StatusEntryRow).where(StatusEntryRow.member == member).order_by(StatusEntryRow.idx))
    return [(r.idx, r.record_id) for r in rows]
