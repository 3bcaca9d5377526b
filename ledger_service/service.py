"""The record pipeline: validate -> canonicalise -> hash -> pin -> anchor -> index (docs/architecture.md section 1).

`submit` validates a record with its attachment files and stores it as accepted (nothing is written for a
record with a fault); `anchor_pending` anchors every accepted record in its tier and indexes the proofs.
The record id is the idempotency key: submitting or anchoring the same record twice changes nothing.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Final

from sqlalchemy.orm import Session, sessionmaker

from ledger_service import confidential, merkle, rules, signatures
from ledger_service.canonical import canonical_json
from ledger_service.chain import Header, Web3ChainClient
from ledger_service.chain.types import BatchReceipt, PreparedTx, Receipt
from ledger_service.chain.web3_client import ChainReader
from ledger_service.crypto import sm4
from ledger_service.digests import digest_bytes, digest_file
from ledger_service.errors import (
    ChainError,
    ChainUnavailable,
    LedgerError,
    StoreError,
    TransactionAbandoned,
    TransactionFailed,
    TransactionReverted,
    UnknownEntry,
)
from ledger_service.ids import header_of, instrument_key, schema_key, unix
from ledger_service.index import audit as audit_chain
from ledger_service.index import crud
from ledger_service.index.models import DeadLetterRow, RecordRow
from ledger_service.records import (
    RECORD_TYPE_CODES,
    Fault,
    FaultCode,
    Record,
    RecordInvalid,
    SignerStanding,
    validate_record,
)
from ledger_service.records.types import CalibrationCertificate
from ledger_service.records.validate import normalised_record
from ledger_service.store import ContentStore, cid_of_bytes
from ledger_service.store.base import PinState
from ledger_service.store.cid import cid_of_stream
from ledger_service.verification import (
    Anchor,
    CertificateTarget,
    Evidence,
    Fragment,
    RecordTarget,
    make_bundle,
    record_context,
    verify,
)

DEFAULT_TIERS: Final[dict[str, str]] = {
    "calibration_certificate": "A",
    "tensile_test": "A",
    "human_review": "A",
    "el_image": "B",
    "ai_inspection": "B",
    "xrf_analysis": "C",
    "power_measurement": "B",
}
NO_POLICY: Final = "no escrow policy is configured: confidential records cannot be escrowed"
log = logging.getLogger("qledger.service")
BATCH_B: Final = 256
BATCH_C: Final = 1024
# An anchor is final once this many blocks are built on its block: until then every anchoring pass compares its
# block with the chain's (docs/architecture.md section 4). QBFT (Besu) blocks are final when sealed; anvil and
# other development nodes can lose their newest blocks when killed.
CONFIRMATIONS: Final = 12
CHECK_BLOCKS: Final = 64  # the most blocks one pass compares (newest first; the rest on the next passes)


class AttachmentMismatch(LedgerError, ValueError):
    """An attachment's declared digest differs from its content."""


@dataclass(frozen=True)
class AttachmentFile:
    """A file submitted with a record: a path (streamed) or bytes."""

    name: str
    media_type: str
    path: Path | None = None
    data: bytes | None = None


def attachments_as_signed(raw: Mapping[str, Any], files: Sequence[AttachmentFile]) -> list[Any]:
    """A record's `attachments` as its signers sign them: as stored (`attachments_as_stored`) for a public
    record; for a confidential one the files sent without a CID (the ciphertext's, made at submission, is not
    signed: signatures.signed_form)."""
    out = attachments_as_stored(raw.get("attachments", []), files)
    if raw.get("confidentiality") != "confidential":
        return out
    return [{k: v for k, v in a.items() if k != "cid"} if i < len(files) else a for i, a in enumerate(out)]


def attachments_as_stored(declared: Iterable[Mapping[str, Any]], files: Sequence[AttachmentFile]) -> list[Any]:
    """A public record's `attachments` as `submit` stores them, nothing written: each file sent, digested, with
    the CID the store will give it (in the order sent), then the entries declared but not sent, as declared.
    What its signers sign (docs/formats.md section 2.1); `LedgerService._attachments` is the same at ingest."""
    declared_by_name = {d.get("name"): d for d in declared if isinstance(d, Mapping)}
    out: list[Any] = []
    for f in files:
        if f.path is not None:
            d = digest_file(f.path)
            with open(f.path, "rb") as stream:
                cid = cid_of_stream(stream)
        else:
            d = digest_bytes(f.data or b"")
            cid = cid_of_bytes(f.data or b"")
        claimed = declared_by_name.pop(f.name, None)
        if claimed and (
            claimed.get("sm3") not in (None, d.sm3_hex) or claimed.get("sha256") not in (None, d.sha256_hex)
        ):
            raise AttachmentMismatch(f"attachments.{f.name}: declared digest does not match the file")
        out.append(
            {"name": f.name, "media_type": f.media_type, "size": d.size, "sm3": d.sm3_hex, "sha256": d.sha256_hex}
            | {"cid": cid}
        )
    out.extend(declared_by_name.values())
    return out


@dataclass(frozen=True)
class Submitted:
    record_id: str
    created: bool
    cid: str


Outcome = Submitted | RecordInvalid | ChainUnavailable  # one submission of a batch (submit_batch)


class AmbiguousId(LedgerError, LookupError):
    """A prefix names several records (or keys): more digits are needed."""


@dataclass(frozen=True)
class RecordState:
    """A record's place in the pipeline, from the index."""

    record_id: str
    record_type: str
    lab: str
    confidentiality: str
    status: str  # accepted (waiting to be anchored) | anchored | revoked | superseded | dead_letter
    tier: str | None
    tx_hash: str | None
    block_number: int | None
    cid: str | None
    pinned: bool
    refusal: str | None = None  # a dead letter's: the contracts' refusal, until retried


@dataclass(frozen=True)
class AnchorCheck:
    """What one comparison of the index's recent anchors with the chain found."""

    head: int  # the chain's head block
    blocks: int  # blocks compared
    moved: int  # anchors whose transaction the chain holds in another block than the index said
    requeued: int  # records whose anchoring transaction the chain lost, back in the anchoring queue
    went_back: bool  # the head is below a block a receipt came from: the chain went back

    @property
    def changed(self) -> bool:
        return self.went_back or bool(self.moved or self.requeued)


@dataclass(frozen=True)
class ApiKey:
    """An API key as its owner and operators see it: its id (the first 16 hex digits of its SM3), never the key."""

    key_id: str
    member: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> ApiKey:
        return cls(row.key_sm3[:16], row.member, crud.as_utc(row.created_at), _utc_or_none(row.revoked_at))

    def to_json(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "member": self.member,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


def _utc_or_none(moment: datetime | None) -> datetime | None:
    return crud.as_utc(moment) if moment is not None else None


class LedgerService:
    """The pipeline over a chain, a content store and the SQL index."""

    def __init__(
        self,
        *,
        chain: Web3ChainClient,
        store: ContentStore,
        sessions: sessionmaker[Session],
        accounts: Mapping[str, str],
        tiers: Mapping[str, str] | None = None,
        confirmations: int = CONFIRMATIONS,
    ) -> None:
        self.chain = chain
        self.confirmations = confirmations
        self.store = store
        self.sessions = sessions
        self.accounts = dict(accounts)  # consortium member id -> chain account
        self.tiers = dict(tiers or DEFAULT_TIERS)
        self.fault_injector: Callable[[str], None] | None = None
        self._policy: confidential.EscrowPolicy | None = None
        # Taken by a submission batch before its first write, released after its commit: several API processes
        # (serving.py) queue on it in the kernel instead of polling SQLite's lock (busy_timeout sleeps).
        self.write_gate: Callable[[], AbstractContextManager[object]] | None = None
        # Held by an anchoring pass from its read of the queue to its end: the worker process of `serve` and a
        # `qledger ingest` (or another worker) on the same data directory take turns, or each would batch the
        # records the other is anchoring (docs/architecture.md section 4). open_runtime sets it.
        self.anchor_gate: Callable[[], AbstractContextManager[object]] | None = None

    # ------------------------------------------------------------------ ingest

    def submit(self, raw: Mapping[str, Any], files: Sequence[AttachmentFile] = (), actor: str = "cli") -> Submitted:
        """Validate, hash, pin and index one record; raises RecordInvalid listing every fault."""
        return self.submit_many([(raw, files)], actor=actor)[0]

    def submit_many(
        self, items: Sequence[tuple[Mapping[str, Any], Sequence[AttachmentFile]]], actor: str = "cli", chunk: int = 500
    ) -> list[Submitted]:
        """`submit` for many records, `chunk` at a time in one index transaction and one store request each.
        A chunk with a refused record writes nothing and raises RecordInvalid (paths prefixed with the index)."""
        out: list[Submitted] = []
        for i in range(0, len(items), chunk):
            part = items[i : i + chunk]
            results = self.submit_batch([(raw, files, actor) for raw, files in part], all_or_nothing=True)
            faults = [
                Fault(f"[{i + n}].{f.path}" if len(items) > 1 else f.path, f.code, f.message)
                for n, r in enumerate(results)
                if isinstance(r, RecordInvalid)
                for f in r.faults
            ]
            if faults:
                raise RecordInvalid(faults)
            for r in results:
                if isinstance(r, ChainUnavailable):
                    raise r
            out += [r for r in results if isinstance(r, Submitted)]
        return out

    def submit_batch(
        self,
        items: Sequence[tuple[Mapping[str, Any], Sequence[AttachmentFile], str]],
        all_or_nothing: bool = False,
        audit_entries: Sequence[Mapping[str, Any]] = (),
        audit_of_outcomes: Callable[[Sequence[Outcome]], Sequence[Mapping[str, Any]]] | None = None,
    ) -> list[Outcome]:
        """Validate every (record, files, actor); index the valid ones in one transaction (group commit) and
        pin them in one store request. Returns, per item, its Submitted or its RecordInvalid. With
        `all_or_nothing`, one refused record means nothing is written. `audit_entries` (access entries of the
        API), and the entries `audit_of_outcomes` makes of the outcomes, are appended in the same transaction.
        A signed record whose signers' standing the chain cannot tell now gets ChainUnavailable as its outcome
        (to be sent again): the batch's other records are not held by it."""
        with ExitStack() as gate, self.sessions.begin() as session:  # the gate is left after the commit
            ctx = crud.IndexValidationContext(session, self._signer_standing)
            outcomes: list[tuple[Record, bytes, str, bytes | None] | RecordInvalid | ChainUnavailable] = []
            pending: list[list[tuple[Callable[[], str], str]]] = []  # per accepted record: its file writes
            for raw, files, actor in items:
                envelope = dict(raw)
                data_key = confidential.new_data_key() if raw.get("confidentiality") == "confidential" else None
                try:
                    if data_key is not None and self.escrow_policy() is None:
                        raise RecordInvalid([Fault("confidentiality", FaultCode.INVALID_VALUE, NO_POLICY)])
                    envelope["attachments"], writes = self._attachments(raw.get("attachments", []), files, data_key)
                    record = validate_record(envelope, ctx)
                except RecordInvalid as refused:
                    outcomes.append(refused)
                    continue
                except AttachmentMismatch as mismatch:
                    outcomes.append(RecordInvalid([Fault("attachments", FaultCode.INVALID_VALUE, str(mismatch))]))
                    continue
                except ChainUnavailable as down:  # the signers' standing (records/validate.py) is the chain's
                    outcomes.append(down)
                    continue
                canonical = canonical_json(record.model_dump(mode="json", exclude_none=True))
                outcomes.append((record, canonical, actor, data_key))
                pending.append(writes)
            if self.write_gate is not None:  # validation above ran in parallel; from here on, one process
                gate.enter_context(self.write_gate())
            crud.add_refusals(
                session=session,
                refusals=[
                    (actor, raw.get("record_type"), [str(f.code) for f in o.faults])
                    for (raw, _, actor), o in zip(items, outcomes, strict=True)
                    if isinstance(o, RecordInvalid)
                ],
            )
            valid = [o for o in outcomes if isinstance(o, tuple)]
            if all_or_nothing and len(valid) < len(outcomes):
                crud.audit_many(session=session, entries=[dict(e) for e in audit_entries])
                return [Submitted("", False, "") if isinstance(o, tuple) else o for o in outcomes]
            for writes in pending:
                self._store_attachments(writes)
            public = [c for _, c, _, key in valid if key is None]
            # A deferred store pins later from the index, which holds the canonical record already.
            public_cids = iter(
                [cid_of_bytes(c) for c in public] if self.store.deferred else self.store.put_many(public)
            )
            new, escrows = [], []
            for record, canonical, actor, key in valid:
                if key is None:
                    new.append(self._new_record(record, canonical, next(public_cids), actor))
                    continue
                escrow = self._seal(record, canonical, key)  # only ciphertext leaves this service
                new.append(self._new_record(record, canonical, escrow.record_ciphertext_cid, actor))
                escrows.append(escrow)
            # The existence check and the inserts under the write lock: another API process (serving.py) may be
            # indexing the same record right now; one of the two creates it, the other answers 409.
            audit_chain.lock_head(session)
            created_flags = crud.add_records(session=session, records=new, audit=False)
            created = iter(created_flags)
            fresh_ids = {n.record_id for n, c in zip(new, created_flags, strict=True) if c}
            crud.add_escrows(session=session, escrows=[e for e in escrows if e.record_id in fresh_ids])
            for (record, *_), n in zip(valid, new, strict=True):
                if isinstance(record, CalibrationCertificate):
                    r = record.results
                    crud.add_certificate(
                        session=session,
                        record_id=n.record_id,
                        instrument_id=r.calibrated_instrument.id,
                        valid_from=r.valid_from,
                        valid_until=r.valid_until,
                    )
            fresh = iter(new)
            results: list[Outcome] = []
            for o in outcomes:
                if not isinstance(o, tuple):
                    results.append(o)
                else:
                    n = next(fresh)
                    results.append(Submitted(n.record_id, next(created), n.cid or ""))
            # One append of the batch's entries: the hash chain's head is locked and moved once per transaction.
            entries = [dict(e) for e in audit_entries] + crud.creation_entries(new, created_flags)
            if audit_of_outcomes is not None:
                entries += [dict(e) for e in audit_of_outcomes(results)]
            crud.audit_many(session=session, entries=entries)
            return results

    def _new_record(self, record: Record, canonical: bytes, cid: str, actor: str) -> crud.NewRecord:
        digests = digest_bytes(canonical)
        return crud.NewRecord(
            record_id=digests.sm3_hex,
            record_type=record.record_type,
            sha256=digests.sha256_hex,
            lab_member=record.lab.member_id,
            lot=record.subject.lot,
            product=record.subject.product,
            measured_at=record.measured_at,
            confidentiality=record.confidentiality,
            canonical=canonical,
            cid=cid,
            attachments=[
                crud.NewAttachment(a.name, a.media_type, a.size, a.sm3, a.sha256, a.cid) for a in record.attachments
            ],
            actor=actor,
            pinned=not self.store.deferred,
        )

    def _seal(self, record: Record, canonical: bytes, data_key: bytes) -> crud.NewEscrow:
        """Encrypt a confidential record, escrow its data key, store ciphertext and envelope."""
        policy = self.escrow_policy()
        assert policy is not None  # checked before validation
        record_id = digest_bytes(canonical).sm3_hex
        sealed = confidential.seal(policy, record_id, canonical, data_key, record.subject.lot, record.subject.product)
        ciphertext_cid = self.store.put(sealed.record_ciphertext)
        envelope = canonical_json({**sealed.envelope, "record_ciphertext_cid": ciphertext_cid})
        return crud.NewEscrow(
            record_id=record_id,
            policy_sm3=sealed.envelope["policy_sm3"],
            lot_sm3=sealed.envelope["lot_sm3"],
            product_sm3=sealed.envelope["product_sm3"],
            envelope=envelope,
            envelope_cid=self.store.put(envelope),
            record_ciphertext_cid=ciphertext_cid,
        )

    def _attachments(
        self, declared: Iterable[Mapping[str, Any]], files: Sequence[AttachmentFile], data_key: bytes | None = None
    ) -> tuple[list[Any], list[tuple[Callable[[], str], str]]]:
        """Digest each file sent with a record and compute the CID it will have, storing nothing yet: returns
        the attachments' metadata and one deferred store write per file, run only once the record is accepted
        (a refused record leaves nothing in any store). A confidential record's files are stored SM4-GCM
        encrypted under its data key (the record keeps the plaintext digests and the ciphertext's CID)."""
        declared_by_name = {d.get("name"): d for d in declared if isinstance(d, Mapping)}
        out: list[Any] = []
        writes: list[tuple[Callable[[], str], str]] = []  # (deferred write, the CID it must give)
        for f in files:
            if data_key is not None:
                data = f.path.read_bytes() if f.path is not None else (f.data or b"")
                d = digest_bytes(data)
                sealed = sm4.encrypt(data_key, data, confidential.attachment_aad(d.sm3_hex))
                cid = cid_of_bytes(sealed)
                writes.append((partial(self.store.put, sealed), cid))
            elif f.path is not None:
                d = digest_file(f.path)
                with open(f.path, "rb") as stream:
                    cid = cid_of_stream(stream)
                writes.append((partial(self.store.put_file, f.path), cid))
            else:
                data = f.data or b""
                d = digest_bytes(data)
                cid = cid_of_bytes(data)
                writes.append((partial(self.store.put, data), cid))
            meta = {
                "name": f.name,
                "media_type": f.media_type,
                "size": d.size,
                "sm3": d.sm3_hex,
                "sha256": d.sha256_hex,
            }
            claimed = declared_by_name.pop(f.name, None)
            if claimed and (
                claimed.get("sm3") not in (None, d.sm3_hex) or claimed.get("sha256") not in (None, d.sha256_hex)
            ):
                raise AttachmentMismatch(f"attachments.{f.name}: declared digest does not match the file")
            out.append({**meta, "cid": cid})
        # Attachments declared but not sent stay as declared (their content lives elsewhere).
        out.extend(declared_by_name.values())
        return out, writes

    def _store_attachments(self, writes: Sequence[tuple[Callable[[], str], str]]) -> None:
        """Run an accepted record's deferred writes; the store must give each file the CID computed for it."""
        for write, cid in writes:
            stored = write()
            if stored != cid:
                raise StoreError(f"the store gave {stored} to content whose CID is {cid}")

    def check(self, raw: Mapping[str, Any], files: Sequence[AttachmentFile] = ()) -> str:
        """Validate a record exactly as `submit` would, writing nothing anywhere; returns the record id it would
        get (for a confidential record an indication only: its attachments' CIDs are those of fresh ciphertext)."""
        if raw.get("confidentiality") == "confidential" and self.escrow_policy() is None:
            raise RecordInvalid([Fault("confidentiality", FaultCode.INVALID_VALUE, NO_POLICY)])
        envelope = dict(raw)
        try:
            envelope["attachments"], _ = self._attachments(raw.get("attachments", []), files)
        except AttachmentMismatch as mismatch:
            raise RecordInvalid([Fault("attachments", FaultCode.INVALID_VALUE, str(mismatch))]) from None
        with self.sessions() as session:
            record = validate_record(envelope, crud.IndexValidationContext(session, self._signer_standing))
        return digest_bytes(canonical_json(record.model_dump(mode="json", exclude_none=True))).sm3_hex

    # ------------------------------------------------------------------ lookups and access

    def resolve_record_id(self, text: str) -> str:
        """The record id that `text` names: the full id (hex, `0x` optional) or an unambiguous prefix of at
        least 8 hex digits. Raises UnknownEntry, or AmbiguousId for a prefix that fits several records."""
        wanted = text.strip().lower().removeprefix("0x")
        if len(wanted) < 8 or any(c not in "0123456789abcdef" for c in wanted):
            raise UnknownEntry(f"{text!r} is not a record id (64 hex digits, or a prefix of at least 8)")
        with self.sessions() as session:
            found = crud.record_ids_starting(session=session, prefix=wanted)
        if not found:
            raise UnknownEntry(f"no record {text} in this index")
        if len(found) > 1:
            raise AmbiguousId(f"{text} fits several records: give more digits")
        return found[0]

    def record_state(self, record_id: str) -> RecordState:
        """Where a record stands in the index: accepted (waiting to be anchored), anchored, revoked, superseded."""
        with self.sessions() as session:
            row = crud.get_record(session=session, record_id=record_id)
            if row is None:
                raise UnknownEntry(f"no record {record_id} in this index")
            a = row.anchor
            dead = session.get(DeadLetterRow, record_id) if row.status == "dead_letter" else None
            return RecordState(
                record_id=row.id,
                record_type=row.record_type,
                lab=row.lab_member,
                confidentiality=row.confidentiality,
                status=row.status,
                tier=a.tier if a is not None else self.tiers.get(row.record_type),
                tx_hash=a.tx_hash if a is not None else None,
                block_number=a.block_number if a is not None else None,
                cid=row.cid,
                pinned=row.pinned_at is not None,
                refusal=None if dead is None else f"{dead.code}: {dead.reason}",
            )

    def is_accredited(self, member: str, record_type_code: int) -> bool:
        """Whether the registry holds `member` active and accredited, now, for a record type."""
        registry = self.chain.registry.functions
        return bool(self.chain._call(registry.isAccredited(self._account(member), record_type_code)))

    def issue_api_key(self, member: str, *, actor: str) -> str:
        """A new API key for a member whose chain account this service holds; printed once, only its SM3 kept."""
        account = self.accounts.get(member)
        if account is None:
            raise UnknownEntry(f"unknown member {member!r}: one of {', '.join(sorted(self.accounts))}")
        with self.sessions.begin() as session:
            return crud.issue_api_key(session=session, member=member, account=account, actor=actor)

    def api_keys(self, member: str | None = None) -> list[ApiKey]:
        """The API keys of every member, or of one: their public ids, never the keys."""
        with self.sessions() as session:
            return [ApiKey.of(row) for row in crud.api_keys(session=session, member=member)]

    def revoke_api_key(self, key_id: str, *, member: str | None, actor: str) -> ApiKey:
        """Revoke a key by its id (or an unambiguous prefix of 8 or more hex digits). With `member`, only that
        member's own keys can be named: another member's key is as unknown as a key that never existed."""
        wanted = key_id.strip().lower()
        if len(wanted) < 8:
            raise UnknownEntry(f"{key_id!r} is not a key id (at least 8 hex digits)")
        with self.sessions.begin() as session:
            rows = [r for r in crud.api_keys(session=session, member=member) if r.key_sm3.startswith(wanted)]
            if not rows:
                raise UnknownEntry(f"no API key {key_id}")
            if len(rows) > 1:
                raise AmbiguousId(f"{key_id} fits several keys: give more digits")
            if not crud.revoke_api_key(session=session, key_sm3=rows[0].key_sm3, actor=actor):
                raise LedgerError(f"API key {rows[0].key_sm3[:16]} was revoked already")
            return ApiKey.of(rows[0])

    # ------------------------------------------------------------------ the audit trail

    def anchor_audit_head(self, member: str) -> int | None:
        """Anchor the audit trail's head (its last entry's SM3, a one-leaf tier C root) if it moved since the
        last anchor; returns the entry id anchored, or None when there was nothing new."""
        with self.sessions() as session:
            last_id, last_sm3 = audit_chain.head(session)
            if last_id == 0 or last_id <= audit_chain.last_anchored(session):
                return None
        digest = bytes.fromhex(last_sm3)
        receipt = self.anchor_digests(member=member, digests=[digest], kind="audit-head")
        with self.sessions.begin() as session:
            audit_chain.add_anchor(
                session, last_id, last_sm3, "0x" + receipt.tx_hash.hex(), merkle.root([digest]).hex()
            )
        return last_id

    def verify_audit_trail(self) -> audit_chain.Verdict:
        """Every entry of the audit trail against its hash chain, the head, the anchored heads (on chain too)
        and the append-only triggers."""
        with self.sessions() as session:
            verdict = audit_chain.verify(session)
            anchors = audit_chain.anchors(session)
        for anchor in anchors[-3:]:  # the latest anchors, on chain: a forged anchors row is caught here
            root = bytes.fromhex(anchor.root)
            if merkle.root([bytes.fromhex(anchor.entry_sm3)]) != root or not self.root_anchored(root):
                verdict.findings.append(
                    audit_chain.Finding(
                        anchor.entry_id, "ANCHOR_NOT_ON_CHAIN", f"entry {anchor.entry_id}'s anchor is not on chain"
                    )
                )
                break
        return verdict

    # ------------------------------------------------------------------ escrow

    def escrow_policy(self) -> confidential.EscrowPolicy | None:
        """The escrow policy in force: the latest one configured (and anchored)."""
        if self._policy is None:
            with self.sessions() as session:
                row = crud.current_escrow_policy(session=session)
                if row is not None:
                    self._policy = confidential.EscrowPolicy.from_document(json.loads(row.document))
        return self._policy

    def configure_escrow(self, *, member: str, policy: confidential.EscrowPolicy) -> str:
        """Anchor an escrow policy (its SM3 as a one-leaf tier C root) and put it in force; returns its SM3."""
        digest = policy.digest()
        receipt = self.anchor_digests(member=member, digests=[digest], kind="escrow_policy")
        self.store.put(policy.canonical())
        with self.sessions.begin() as session:
            crud.add_escrow_policy(
                session=session, digest=digest.hex(), document=policy.canonical(), tx_hash="0x" + receipt.tx_hash.hex()
            )
            crud.audit(session=session, actor=member, action="escrow_policy", new_value=digest.hex())
        self._policy = policy
        return digest.hex()

    # ------------------------------------------------------------------ documents

    def anchor_digests(self, *, member: str, digests: Sequence[bytes], kind: str) -> BatchReceipt:
        """Anchor the SM3 digests of documents that are not records (escrow policies, certificates, model
        cards) under one tier C root whose schema names their kind."""
        return self.chain.anchor_root(self._account(member), digests, schema_key(kind, "1"))

    def root_anchored(self, root: bytes, member: str | None = None) -> bool:
        """Whether `member` (when None: any member this service holds an account of) anchored a Merkle root of
        digests on this chain. Roots are keyed by their submitter, so another member's anchor of the same root
        is that member's."""
        reader = ChainReader(self.chain)
        accounts = [self._account(member)] if member is not None else list(dict.fromkeys(self.accounts.values()))
        return any(int(reader.root_of(root, a)["anchored_at"]) > 0 for a in accounts)

    # ------------------------------------------------------------------ pinning

    def pin_pending(self, batch: int = 1000) -> int:
        """Pin the content of every record whose content still waits in the local spool (stores that pin on
        `put` have none); returns how many records were pinned. Raises StoreUnavailable to be retried later:
        pinning twice is harmless, so a crash between pinning and marking only repeats work."""
        done = 0
        while True:
            with self.sessions() as session:
                waiting = crud.unpinned_content(session=session, limit=batch)
            if not waiting:
                return done
            pushed = self.store.push(
                [c for w in waiting for c in w.spooled_cids], [w.canonical for w in waiting if w.canonical is not None]
            )
            with self.sessions.begin() as session:
                crud.mark_pinned(session=session, record_ids=[w.record_id for w in waiting])
                if self.store.replication_min:
                    crud.add_pins(session=session, cids=pushed, replication_min=self.store.replication_min)
            done += len(waiting)

    def check_replication(
        self, batch: int = 500, recheck_after_s: float = 300.0, repush_after_s: float = 30.0
    ) -> dict[str, int]:
        """Ask a replicating store (IPFS Cluster) how far the content it was handed is replicated, and note it in
        the index: first what is not replicated yet, then what was replicated longest ago (a member's node may
        have died since). Content the cluster lost track of, or still short of its replication factor
        `repush_after_s` after it was handed over (the node it was added to may have died before the others
        fetched it), is pushed again from the local spool or the index. Returns how many CIDs this pass found in
        each state. Raises StoreUnavailable to be retried later."""
        if not self.store.replication_min:
            return {}
        now = datetime.now(UTC)
        with self.sessions() as session:
            due = crud.pins_to_check(
                session=session, limit=batch, checked_before=now - timedelta(seconds=recheck_after_s)
            )
        handed = dict(due)
        states = self.store.replication(list(handed))
        stale = now - timedelta(seconds=repush_after_s)
        again = [c for c, p in states.items() if p.state == "missing" or (p.state == "pinning" and handed[c] < stale)]
        pushed: list[str] = []
        if again:
            with self.sessions() as session:
                blobs = crud.public_canonicals(session=session, cids=again)
            pushed = self.store.push(again, blobs)
        with self.sessions.begin() as session:
            crud.set_pin_states(
                session=session,
                states=[(p.cid, p.peers_pinned, p.replication_min, p.state) for p in states.values()],
            )
            crud.add_pins(session=session, cids=pushed, replication_min=self.store.replication_min)
        counts: dict[str, int] = defaultdict(int)
        for p in states.values():
            counts[p.state] += 1
        return dict(counts)

    def replication_of(self, cids: Sequence[str]) -> list[PinState]:
        """The index's replication state of `cids` (those handed to a replicating store)."""
        with self.sessions() as session:
            return [
                PinState(r.cid, r.peers_pinned, r.replication_min, r.state)
                for r in crud.pins_of(session=session, cids=cids)
            ]

    def content_cids(self, record_id: str) -> list[str]:
        """The CIDs of a record's content: its own (canonical JSON, or a confidential record's ciphertext), its
        escrow envelope's, its attachments'."""
        with self.sessions() as session:
            row = crud.get_record(session=session, record_id=record_id)
            if row is None:
                raise UnknownEntry(f"no record {record_id} in this index")
            escrow = crud.get_escrow(session=session, record_id=record_id)
            cids = [row.cid, escrow.envelope_cid if escrow is not None else None, *(a.cid for a in row.attachments)]
            return [c for c in dict.fromkeys(cids) if c]

    def replication_counts(self) -> dict[str, int]:
        with self.sessions() as session:
            return crud.pin_counts(session=session)

    # ------------------------------------------------------------------ anchoring

    def anchor_pending(self, actor: str = "anchor-worker", progress: Any = None, wait: bool = True) -> int:
        """Anchor every accepted record in its tier; returns how many were anchored.

        Exactly once, whatever crashes: each signed transaction is written to the index (with the records it
        anchors) before it is sent; `check_anchors` first puts back in the queue the records whose anchoring
        transaction the chain lost, and `recover` resends or finds every transaction left open.

        Pipelined (docs/architecture.md section 4): each tier B or C batch is sent as soon as it is prepared,
        with the sender's next nonce from the local cache, without waiting for the previous batch's receipt;
        the pass then waits for all of them (`wait`), or leaves them open (`wait=False`, the anchoring
        worker's passes: the next pass finds them mined and indexes them, so a batch that fills while one is
        in flight is sent at once). Tier A transactions are awaited one by one either way: a calibration
        certificate must be on chain before the records measured with it are checked against it.

        One pass at a time per data directory (`anchor_gate`): another process's pass waits for this one.
        """
        with self.anchor_gate() if self.anchor_gate is not None else nullcontext():
            return self._anchor_pending(actor, progress, wait)

    def _anchor_pending(self, actor: str, progress: Any, wait: bool) -> int:
        self.check_anchors(actor)
        done = self.recover(actor, wait=wait)
        with self.sessions() as session:
            busy = {r for a in crud.open_attempts(session=session) for r in a.record_ids}
            pending = [r for r in crud.awaiting_anchor(session=session) if r[0] not in busy]
        groups: dict[tuple[str, str, str], list[tuple[str, bytes]]] = defaultdict(list)
        for record_id, record_type, lab, canonical in pending:
            groups[(self.tiers.get(record_type, "B"), record_type, lab)].append((record_id, canonical))
        # Calibration certificates first: records measured with them are checked against them on chain.
        in_flight: list[tuple[str, list[str], PreparedTx]] = []
        for (tier, record_type, lab), items in sorted(
            groups.items(), key=lambda g: g[0][1] != "calibration_certificate"
        ):
            sender = self._account(lab)
            code = RECORD_TYPE_CODES[record_type]
            size = {"A": 1, "B": BATCH_B}.get(tier, BATCH_C)
            for i in range(0, len(items), size):
                chunk = items[i : i + size]
                attempt = self._prepare_or_dead_letter(tier, sender, code, record_type, chunk, actor)
                if attempt is not None and attempt[1] is None:  # already on chain: adopted
                    done += len(attempt[0])
                elif attempt is not None and attempt[1] is not None and tier == "A":
                    done += self._send_attempt(tier, attempt[0], attempt[1], actor)
                elif attempt is not None and attempt[1] is not None:
                    receipt = self._submit_attempt(tier, attempt[0], attempt[1])
                    if receipt is None:
                        in_flight.append((tier, attempt[0], attempt[1]))
                    else:
                        self._index_anchor(tier, attempt[0], receipt, actor, attempt="0x" + receipt.tx_hash.hex())
                        done += len(attempt[0])
                if progress:
                    progress(len(chunk))
        for tier, ids, prepared in in_flight:
            if wait:
                receipt = self.chain.await_receipt(prepared)
            else:  # one look (a chain that mines on arrival has it already); a later pass finds the others
                try:
                    receipt = self.chain.receipt_of(prepared.tx_hash)
                except TransactionFailed:
                    continue  # left open: `recover` abandons it and anchors its records anew
            if receipt is not None:
                self._index_anchor(tier, ids, receipt, actor, attempt="0x" + prepared.tx_hash.hex())
                done += len(ids)
        return done

    def _prepare(
        self, tier: str, sender: str, code: int, record_type: str, chunk: Sequence[tuple[str, bytes]]
    ) -> tuple[list[str], PreparedTx]:
        """The signed transaction that anchors `chunk` in its tier, and the record ids it anchors (in the order
        the contract takes them); TransactionReverted when the contract would refuse it."""
        if tier == "A":
            ((record_id, canonical),) = chunk
            return [record_id], self._prepare_tier_a(sender, code, record_id, canonical)
        if tier == "B":
            prepared, ordered = self.chain.prepare_anchor_batch(sender, code, [self._header(r, c) for r, c in chunk])
            return [r.hex() for r in ordered], prepared
        ids = [r for r, _ in chunk]
        return ids, self.chain.prepare_anchor_root(
            sender, [bytes.fromhex(r) for r in ids], schema_key(record_type, "1")
        )

    def _prepare_or_dead_letter(
        self, tier: str, sender: str, code: int, record_type: str, chunk: Sequence[tuple[str, bytes]], actor: str
    ) -> tuple[list[str], PreparedTx | None] | None:
        """Prepare a chunk's transaction; records the contract refuses go to the dead letters with the refusal
        (the one its error names, else the whole chunk: the submitter's standing, say), and the rest of the
        chunk is prepared again. A refused group never holds the queue. A tier A record the chain holds
        already (its transaction lost by this index) is adopted: (its id, None)."""
        remaining = list(chunk)
        while remaining:
            try:
                return self._prepare(tier, sender, code, record_type, remaining)
            except TransactionReverted as refused:
                if tier == "A" and refused.code == "ALREADY_ANCHORED" and self._adopt(remaining[0][0], actor, sender):
                    return [remaining[0][0]], None
                named = {bytes(v).hex() for v in refused.arguments.values() if isinstance(v, bytes) and len(v) == 32}
                dead = [r for r, _ in remaining if r in named] or [r for r, _ in remaining]
                with self.sessions.begin() as session:
                    crud.add_dead_letters(
                        session=session, record_ids=dead, code=refused.code, reason=str(refused), actor=actor
                    )
                remaining = [(r, c) for r, c in remaining if r not in dead]
        return None

    def dead_letters(self, lab: str | None = None) -> list[dict[str, Any]]:
        """Records the contracts refused to anchor, with the refusal (a lab's own, with `lab`)."""
        with self.sessions() as session:
            return [
                {
                    "record_id": d.record_id,
                    "lab": owner,
                    "code": d.code,
                    "reason": d.reason,
                    "at": crud.as_utc(d.at).isoformat(),
                }
                for d, owner in crud.dead_letters(session=session, lab=lab)
            ]

    def retry_dead_letters(self, record_ids: Sequence[str] | None = None, *, lab: str | None = None, actor: str) -> int:
        """Put dead letters back in the anchoring queue (all of them, or `record_ids`; a lab's own with `lab`),
        once what refused them is mended; returns how many went back."""
        with self.sessions.begin() as session:
            owned = [d.record_id for d, _ in crud.dead_letters(session=session, lab=lab)]
            chosen = owned if record_ids is None else [r for r in record_ids if r in set(owned)]
            return crud.retry_dead_letters(session=session, record_ids=chosen, actor=actor)

    def recover(self, actor: str = "anchor-worker", wait: bool = True) -> int:
        """Finish the anchoring transactions left open (by a crash, reopened by `check_anchors` because the
        chain lost them, or sent by a pass that did not wait): each is found mined, sent again while its nonce
        is the sender's next, or abandoned when it can never be mined (its nonce taken, or behind a gap only
        lost transactions could fill); the records of an abandoned one are anchored again, as one batch, with
        a fresh nonce. Senders' open transactions are taken in nonce order. With `wait=False` a tier B or C
        transaction that is not mined yet is left open (sent again first when the node lost it), for a later
        pass. Returns records anchored."""
        with self.sessions() as session:
            attempts = [
                (
                    a.tx_hash,
                    a.tier,
                    list(a.record_ids),
                    PreparedTx(a.sender, a.nonce, bytes.fromhex(a.tx_hash[2:]), a.raw_tx),
                )
                for a in sorted(crud.open_attempts(session=session), key=lambda a: (a.sender, a.nonce))
            ]
        done = 0
        abandoned: list[tuple[str, list[str]]] = []
        for tx_hash, tier, ids, prepared in attempts:
            try:
                receipt = self._settle(prepared, wait=wait or tier == "A")
            except (TransactionAbandoned, TransactionReverted, TransactionFailed) as error:
                self.chain.reset_nonces()  # a nonce the cache holds may be the one that went elsewhere
                with self.sessions.begin() as session:
                    crud.close_attempt(session=session, tx_hash=tx_hash, state="abandoned")
                    crud.audit(
                        session=session, actor=actor, action="anchor_abandoned", new_value=tx_hash, reason=str(error)
                    )
                abandoned.append((tier, ids))
                continue
            if receipt is None:
                continue  # in the node's pool (behind a gap: mined once the gap is filled)
            self._index_anchor(tier, ids, receipt, actor, attempt=tx_hash)
            done += len(ids)
        for tier, ids in abandoned:
            done += self._anchor_again(tier, ids, actor)
        return done

    def _settle(self, prepared: PreparedTx, wait: bool = True) -> Receipt | None:
        """An open transaction's receipt: found mined, or after sending it again (the same signed bytes: it
        can be mined once only). Never sent while its nonce lies beyond the sender's next one: the node would
        hold it until something fills the gap, and the anchoring would wait behind it for good. None for one
        the node holds behind such a gap already, and (`wait=False`) for one the node holds or was just sent
        again and has not mined yet. TransactionAbandoned when it can never be mined."""
        chain = self.chain
        name = "0x" + prepared.tx_hash.hex()
        following = chain.pending_nonce(prepared.sender)  # read before the receipt: a receipt found later wins
        receipt = chain.receipt_of(prepared.tx_hash)
        if receipt is not None:
            return receipt
        send = chain.send_prepared if wait else chain.submit_prepared
        if prepared.nonce == following:
            return send(prepared)
        if chain.knows_transaction(prepared.tx_hash):
            return chain.send_prepared(prepared) if prepared.nonce < following and wait else None
        if prepared.nonce < following:
            raise TransactionAbandoned(f"{name}: its nonce {prepared.nonce} went to another transaction")
        raise TransactionAbandoned(
            f"{name}: its nonce {prepared.nonce} lies beyond the sender's next ({following}): the transactions "
            "between were lost with the blocks that held them"
        )

    def _anchor_again(self, tier: str, record_ids: Sequence[str], actor: str) -> int:
        """Anchor again, as one batch of `tier` (the same root for the same records), the records of an
        abandoned transaction that still wait for an anchor; returns how many were anchored."""
        with self.sessions() as session:
            busy = {r for a in crud.open_attempts(session=session) for r in a.record_ids}
            wanted = set(record_ids) - busy
            waiting = {r[0]: r for r in crud.awaiting_anchor(session=session) if r[0] in wanted}
        items = [waiting[r] for r in record_ids if r in waiting]  # the batch's own order: tier C roots keep it
        groups: dict[tuple[str, str], list[tuple[str, bytes]]] = defaultdict(list)
        for record_id, record_type, lab, canonical in items:
            groups[(record_type, lab)].append((record_id, canonical))
        done = 0
        for (record_type, lab), chunk in groups.items():
            size = {"A": 1, "B": BATCH_B}.get(tier, BATCH_C)
            for i in range(0, len(chunk), size):
                done += self._anchor_batch_again(tier, lab, record_type, chunk[i : i + size], actor)
        return done

    def _anchor_batch_again(
        self, tier: str, lab: str, record_type: str, part: Sequence[tuple[str, bytes]], actor: str
    ) -> int:
        sender, code = self._account(lab), RECORD_TYPE_CODES[record_type]
        try:
            ids, prepared = self._prepare(tier, sender, code, record_type, part)
        except TransactionReverted as refused:
            if refused.name == "QualityLedgerRootExists" and len(part) > 1:
                # The chain holds the batch's root, yet no block holds the transaction that anchored it: a node
                # whose state ran ahead of its blocks (anvil writes its state file while it mines). Two batches,
                # with roots that are new, anchor the records again (docs/architecture.md section 4).
                half = len(part) // 2
                return sum(
                    self._anchor_batch_again(tier, lab, record_type, p, actor) for p in (part[:half], part[half:])
                )
            attempt = self._prepare_or_dead_letter(tier, sender, code, record_type, part, actor)
            if attempt is None:
                return 0
            if attempt[1] is None:
                return len(attempt[0])
            ids, prepared = attempt[0], attempt[1]
        return self._send_attempt(tier, ids, prepared, actor)

    def check_anchors(self, actor: str = "anchor-worker", limit: int = CHECK_BLOCKS) -> AnchorCheck:
        """Compare the blocks of the index's anchors that are not final yet (and of any beyond the chain's
        head) with the chain, at most `limit` blocks, newest first (docs/architecture.md section 4). An anchor
        whose block is the chain's, `confirmations` deep, becomes final. One whose block is gone or another
        block now: its transaction found in another block moves the anchor there; a transaction the chain
        lost puts its records back in the queue and reopens its attempt, which `recover` sends again or
        abandons and anchors anew: exactly once either way. When the chain went back, every cached nonce
        is forgotten (the next ones are read from the chain)."""
        head = self.chain.block_number()
        went_back = self.chain.observe_head(head)
        self._reopen_rewritten_final_blocks(head, limit)
        with self.sessions() as session:
            blocks = crud.unconfirmed_blocks(session=session, head=head, limit=limit)
        moved = requeued = 0
        for number, stored in blocks:
            if stored is not None and number <= head:
                now = self.chain.block_hash_at(number)
                if now is not None and "0x" + now.hex() == stored:
                    if head - number >= self.confirmations:
                        with self.sessions.begin() as session:
                            crud.confirm_anchors(session=session, block_number=number, block_hash=stored)
                    continue
            # The block is gone, is another block now, or its hash was never stored: find each transaction.
            with self.sessions() as session:
                transactions = crud.anchor_transactions(session=session, block_number=number, block_hash=stored)
            for tx_hash in transactions:
                m, r = self._locate(tx_hash, number, actor)
                moved, requeued = moved + m, requeued + r
        check = AnchorCheck(head, len(blocks), moved, requeued, went_back)
        if check.changed:
            self.chain.reset_nonces()
            log.warning(
                "the chain lost or replaced anchored blocks (head %d%s): %d anchors moved, %d records requeued",
                head,
                ", below a block seen before" if went_back else "",
                moved,
                requeued,
            )
        return check

    def _reopen_rewritten_final_blocks(self, head: int, limit: int) -> None:
        """Final anchors are compared with the chain again when the chain no longer holds their block: a node
        restarted from state older than `confirmations` blocks (anvil's state file, written every few seconds,
        can be a hundred blocks behind), whose chain may have grown back past the lost blocks before this pass
        (then no anchor lies beyond the head). One read per pass, the newest final block's hash; when it
        changed, final blocks are reopened newest first down to one the chain still holds (a block's hash
        commits to every block before it), at most `limit` per pass."""
        below, budget = None, limit
        while budget > 0:
            with self.sessions() as session:
                blocks = crud.confirmed_blocks(session=session, below=below, limit=budget)
            if not blocks:
                return
            for number, stored in blocks:
                now = self.chain.block_hash_at(number) if number <= head else None
                if now is not None and "0x" + now.hex() == stored:
                    return
                with self.sessions.begin() as session:
                    crud.unconfirm_anchors(session=session, block_number=number, block_hash=stored)
            below, budget = blocks[-1][0], budget - len(blocks)

    def _locate(self, tx_hash: str, number: int, actor: str) -> tuple[int, int]:
        """(anchors moved, records requeued) for one anchoring transaction whose block `number` changed."""
        try:
            receipt = self.chain.receipt_of(bytes.fromhex(tx_hash.removeprefix("0x")))
            failed = False
        except TransactionFailed:  # mined again on another branch, where it failed: its nonce is spent
            receipt, failed = None, True
        with self.sessions.begin() as session:
            if receipt is not None:
                moved = crud.move_anchors(
                    session=session,
                    tx_hash=tx_hash,
                    block_number=receipt.block_number,
                    block_hash="0x" + receipt.block_hash.hex(),
                    block_time=receipt.block_time,
                    actor=actor,
                )
                return moved, 0
            reason = f"block {number} no longer holds {tx_hash}: the chain lost it" + (" (failed)" if failed else "")
            back = crud.requeue_anchors(session=session, tx_hash=tx_hash, actor=actor, reason=reason, reopen=not failed)
            return 0, len(back)

    def _send_attempt(self, tier: str, ids: list[str], prepared: PreparedTx, actor: str) -> int:
        receipt = self._submit_attempt(tier, ids, prepared)
        if receipt is None:
            receipt = self.chain.await_receipt(prepared)
        self._index_anchor(tier, ids, receipt, actor, attempt="0x" + prepared.tx_hash.hex())
        return len(ids)

    def _submit_attempt(self, tier: str, ids: list[str], prepared: PreparedTx) -> Receipt | None:
        """Write the attempt to the outbox, then send it without waiting: its receipt if the node had mined
        it already, else None (it stays open until a receipt is indexed)."""
        tx_hash = "0x" + prepared.tx_hash.hex()
        with self.sessions.begin() as session:
            crud.add_attempt(
                session=session,
                tx_hash=tx_hash,
                tier=tier,
                sender=prepared.sender,
                nonce=prepared.nonce,
                record_ids=ids,
                raw_tx=prepared.raw,
            )
        self._fault("after_persist")
        receipt = self.chain.submit_prepared(prepared)
        self._fault("after_send")
        return receipt

    def _prepare_tier_a(self, sender: str, code: int, record_id: str, canonical: bytes) -> PreparedTx:
        """A tier A transaction; a calibration certificate goes with what it certifies (the instrument, its
        owner and the window, from the certificate itself) so that only that owner can register it."""
        header = self._header(record_id, canonical)
        if code != RECORD_TYPE_CODES["calibration_certificate"]:
            return self.chain.prepare_anchor(sender, code, header)
        results = _load(canonical)["results"]
        instrument = results["calibrated_instrument"]["id"]
        owner = self.instrument_owner(instrument) or sender
        return self.chain.prepare_anchor_calibration(
            sender,
            header,
            instrument_key(instrument),
            owner,
            _unix_text(results["valid_from"]),
            _unix_text(results["valid_until"]),
        )

    def instrument_owner(self, instrument_id: str) -> str | None:
        """The account of the member (among those this service holds) that registered `instrument_id` on chain:
        instruments are keyed by owner, so a certificate names its owner. None if no known member did."""
        key = instrument_key(instrument_id)
        ledger = self.chain.ledger.functions
        for account in dict.fromkeys(self.accounts.values()):
            owner = self.chain._call(ledger.instrumentOf(account, key))[0]
            if int(str(owner), 16) != 0:
                return str(owner)
        return None

    def submitter_of(self, record_id: str) -> str:
        """The account whose record `record_id` is on chain: that of the lab the record names."""
        with self.sessions() as session:
            row = crud.get_record(session=session, record_id=record_id)
            if row is None:
                raise LedgerError(f"unknown record {record_id}")
            return self._account(row.lab_member)

    def _adopt(self, record_id: str, actor: str, sender: str | None = None) -> bool:
        """A tier A record the chain already holds (anchored by a transaction this index lost): index that one."""
        receipt = self.chain.anchor_receipt(bytes.fromhex(record_id), sender)
        if receipt is None:
            return False
        self._index_anchor("A", [record_id], receipt, actor)
        return True

    def _fault(self, point: str) -> None:
        """Test hook: a crash injected at a named point of the anchoring protocol."""
        if self.fault_injector is not None:
            self.fault_injector(point)

    def _header(self, record_id: str, canonical: bytes) -> Header:
        return header_of(_load(canonical), bytes.fromhex(record_id))

    def _index_anchor(
        self, tier: str, record_ids: list[str], receipt: Receipt, actor: str, attempt: str | None = None
    ) -> None:
        assert self.chain.deployment is not None
        ids = [bytes.fromhex(r) for r in record_ids]
        root = merkle.root(ids) if tier != "A" else None
        paths = merkle.proofs(ids) if root else []
        anchors = [
            crud.NewAnchor(
                record_id=record_id,
                tier=tier,
                chain_id=self.chain.deployment.chain_id,
                contract=self.chain.deployment.ledger,
                tx_hash="0x" + receipt.tx_hash.hex(),
                block_number=receipt.block_number,
                block_hash="0x" + receipt.block_hash.hex(),
                block_time=receipt.block_time,
                root=root.hex() if root else None,
                leaf_index=index if root else None,
                proof=[p.hex() for p in paths[index]] if root else [],
            )
            for index, record_id in enumerate(record_ids)
        ]
        with self.sessions.begin() as session:
            crud.add_anchors(session=session, anchors=anchors, actor=actor)
            if attempt is not None:
                crud.close_attempt(session=session, tx_hash=attempt, state="done")

    # ------------------------------------------------------------------ instruments and calibrations

    def register_instrument(self, *, member: str, instrument_id: str, model: str) -> None:
        """Register an instrument owned by `member` on chain."""
        self.chain.register_instrument(
            self._account(member), instrument_key(instrument_id), digest_bytes(model.encode()).sm3
        )

    def register_reference_calibration(
        self,
        *,
        member: str,
        instrument_id: str,
        certificate_sm3: str,
        valid_from: datetime,
        valid_until: datetime,
    ) -> None:
        """A traceability root: `member`'s declaration of its own primary standard. `member` must be a reference
        body (Role.REFERENCE_BODY, e.g. a national metrology institute), a role only the consortium grants; any
        other lab's reference standard is calibrated by a certificate it registers with `register_calibration`
        (docs/threat-model.md)."""
        self.chain.register_reference_calibration(
            self._account(member),
            instrument_key(instrument_id),
            bytes.fromhex(certificate_sm3),
            unix(valid_from),
            unix(valid_until),
        )
        with self.sessions.begin() as session:
            crud.add_certificate(
                session=session,
                record_id=certificate_sm3,
                instrument_id=instrument_id,
                valid_from=valid_from,
                valid_until=valid_until,
                external=True,
            )
            crud.audit(
                session=session,
                actor=member,
                action="reference_calibration",
                field=instrument_id,
                new_value=certificate_sm3,
            )

    def register_calibration(
        self, *, member: str, certificate_record_id: str, instrument_id: str | None = None
    ) -> None:
        """Register on chain the calibration that an anchored calibration certificate grants its instrument
        (which must be `instrument_id` when given)."""
        with self.sessions() as session:
            row = self._anchored(session, certificate_record_id)
            issuer = row.lab_member
            cert = crud.get_certificate(session=session, record_id=certificate_record_id)
            if cert is None:
                raise LedgerError(f"{certificate_record_id} is not a calibration certificate")
            instrument, start, end = cert.instrument_id, cert.valid_from, cert.valid_until
        if instrument_id is not None and instrument_id != instrument:
            raise LedgerError(f"certificate {certificate_record_id} calibrates {instrument!r}, not {instrument_id!r}")
        # The window and the instrument's owner are the certificate's, fixed on chain when its lab anchored it.
        self.chain.register_calibration(
            self._account(member),
            instrument_key(instrument),
            bytes.fromhex(certificate_record_id),
            unix(start),
            unix(end),
            issuer=self._account(issuer),
        )

    def record_audit(
        self,
        *,
        actor: str,
        action: str,
        field: str | None = None,
        old_value: str | None = None,
        new_value: str | None = None,
        reason: str | None = None,
    ) -> None:
        """Append one entry to the audit trail (e.g. a signer's enrolment or withdrawal)."""
        with self.sessions.begin() as session:
            crud.audit(
                session=session, actor=actor, action=action, field=field, old_value=old_value,
                new_value=new_value, reason=reason,
            )  # fmt: skip

    def add_operator(self, *, lab_member: str, operator_id: str, actor: str) -> None:
        with self.sessions.begin() as session:
            crud.add_operator(session=session, lab_member=lab_member, operator_id=operator_id, actor=actor)

    # ------------------------------------------------------------------ verification

    def evidence(self, record_id: str, attachment_content: Mapping[str, bytes] | None = None) -> Evidence:
        """What the index knows of a record, as verification evidence."""
        with self.sessions() as session:
            row = crud.get_record(session=session, record_id=record_id)
            if row is None:
                raise LedgerError(f"unknown record {record_id}")
            anchor = row.anchor
            claimed = None
            if anchor is not None:
                claimed = Anchor(
                    tier=anchor.tier,
                    chain_id=anchor.chain_id,
                    ledger=anchor.contract,
                    tx_hash=anchor.tx_hash,
                    block_number=anchor.block_number,
                    block_hash=anchor.block_hash,  # a block the chain replaced since: BLOCK_MISMATCH
                    root=anchor.root,
                    proof=list(anchor.proof),
                )
            record = _load(crud.canonical(session=session, row=row))
            return Evidence(record, row.id, claimed, dict(attachment_content or {}))

    def document_of(self, row: RecordRow) -> dict[str, Any]:
        """The record document of an index row (a confidential one is kept sealed at rest)."""
        with self.sessions() as session:
            return _load(crud.canonical(session=session, row=row))

    def with_attachments(self, raw: Mapping[str, Any], files: Sequence[AttachmentFile]) -> dict[str, Any]:
        """The record with its files' metadata as `submit` will store it, nothing written: what its signers
        sign (docs/formats.md section 2.1). A confidential record's files are named by their plaintext digests
        alone: `submit` adds the CID of the ciphertext it makes, which its signers do not sign."""
        return {**raw, "attachments": attachments_as_signed(raw, files)}

    def record_document(self, raw: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """A record file as the ledger stores it (schema-normalised) and the record id that form hashes to."""
        return normalised_record(raw)

    def verify(
        self, record_id: str, attachment_content: Mapping[str, bytes] | None = None, reader: ChainReader | None = None
    ) -> list[Fragment]:
        """Every fragment for one record; pass one `reader` to a sweep over many records to share chain reads."""
        target = RecordTarget(self.evidence(record_id, attachment_content), "index")
        return verify(target, record_context(reader or ChainReader(self.chain), self.store))

    def verify_certificate(self, pdf: bytes) -> list[Fragment]:
        """Every check of a certificate PDF against this consortium's contracts (the service's own deployment is
        the trust anchor)."""
        return verify(CertificateTarget(pdf), record_context(ChainReader(self.chain)))

    def verify_certificates(self, pdfs: Sequence[bytes]) -> list[list[Fragment]]:
        """`verify_certificate` for many PDFs, with one chain reader for all (what they share read once)."""
        from ledger_service.verification import verify_certificates

        return verify_certificates([CertificateTarget(p) for p in pdfs], record_context(ChainReader(self.chain)))

    def verify_documents(self, documents: Sequence[bytes]) -> list[tuple[list[Fragment], bool]]:
        """Every fragment and the verdict for each of many documents, in order: certificate PDFs (by their
        `%PDF-` header) verified as one batch (verify_certificates: what they share read once, their records'
        reads in two rounds of batches), proof bundles each with its own reader. DocumentInvalid naming the
        document (its index) for one that is neither."""
        from ledger_service.verification import passes

        pdfs = [i for i, d in enumerate(documents) if d.startswith(b"%PDF-")]
        out: list[tuple[list[Fragment], bool] | None] = [None] * len(documents)
        for i, d in enumerate(documents):
            if i not in pdfs:
                try:
                    out[i] = self.verify_bundle(d)
                except LedgerError as error:
                    raise DocumentInvalid(i, str(error)) from None
        batch = self.verify_certificates([documents[i] for i in pdfs])
        for i, fragments in zip(pdfs, batch, strict=True):
            out[i] = (fragments, passes(CertificateTarget(documents[i]), fragments))
        return [r for r in out if r is not None]

    def verify_bundle(self, data: bytes) -> tuple[list[Fragment], bool]:
        """Every fragment for a proof bundle (JSON bytes) against this consortium's contracts, and the verdict;
        LedgerError naming the field for one that is not a bundle."""
        from ledger_service.verification import BundleInvalid, load_target, passes

        try:
            target = load_target(data)
        except BundleInvalid as error:
            raise LedgerError(str(error)) from None
        if not isinstance(target, RecordTarget) or target.source != "bundle":
            raise LedgerError("not a proof bundle (a JSON document with a format)")
        fragments = verify(target, record_context(ChainReader(self.chain), self.store))
        return fragments, passes(target, fragments)

    def proof_bundle(self, record_id: str, with_content: bool = True) -> dict[str, Any]:
        """The proof bundle of an anchored record; with its attachments' content unless `with_content` is False
        (or the record is confidential: its content leaves only through a recall, docs/threat-model.md)."""
        with self.sessions() as session:
            row = self._anchored(session, record_id)
            assert self.chain.deployment is not None and row.anchor is not None
            stored = row.anchor.block_hash  # the block the index holds it in: a bundle claims no other
            block_hash = (
                bytes.fromhex(stored.removeprefix("0x"))
                if stored
                else ChainReader(self.chain).block_hash(row.anchor.block_number)
            )
            record = json.loads(crud.canonical(session=session, row=row))
            content = {}
            if with_content and row.confidentiality == "public":
                for a in record.get("attachments", []):
                    content[a["name"]] = self.store.get(a["cid"])
            return make_bundle(row, record, self.chain.deployment, block_hash, content)

    # ------------------------------------------------------------------ status changes

    def revoke(self, record_id: str, *, member: str, reason: str) -> None:
        """Revoke a record on chain (by digest, or by root and proof when batched), then in the index: its owner,
        or a regulator or auditor for cause (rules.check_revoke)."""
        with self.sessions() as session:
            row = self._anchored(session, record_id)
            roles = int(ChainReader(self.chain).member_of(self._account(member))["roles"])
            rules.check_revoke(member, roles, row.lab_member)
            anchor = row.anchor
            assert anchor is not None
            root = bytes.fromhex(anchor.root) if anchor.root else None
            proof = [bytes.fromhex(p) for p in anchor.proof]
            submitter = self._account(row.lab_member)  # the issuer: a regulator or auditor revokes for cause
        self.chain.revoke(self._account(member), bytes.fromhex(record_id), _reason(reason), root, proof, submitter)
        with self.sessions.begin() as session:
            crud.set_status(session=session, record_id=record_id, status="revoked", actor=member, reason=reason)

    def supersede(self, record_id: str, replacement_id: str, *, member: str, reason: str) -> None:
        with self.sessions() as session:
            rules.check_supersede(member, self._anchored(session, record_id).lab_member)
            self._anchored(session, replacement_id)
        self.chain.supersede(
            self._account(member), bytes.fromhex(record_id), bytes.fromhex(replacement_id), _reason(reason)
        )
        with self.sessions.begin() as session:
            crud.set_status(
                session=session,
                record_id=record_id,
                status="superseded",
                actor=member,
                reason=reason,
                superseded_by=replacement_id,
            )

    def _anchored(self, session: Session, record_id: str) -> RecordRow:
        row = crud.get_record(session=session, record_id=record_id)
        if row is None or row.anchor is None:
            raise LedgerError(f"record {record_id} is not anchored")
        return row

    def account_of(self, member: str) -> str:
        """The chain account of a consortium member."""
        return self._account(member)

    def _signer_standing(self, lab: str, signer: str, public_key: bytes) -> SignerStanding:
        try:
            return signatures.standing_on_chain(ChainReader(self.chain), lab, signer, public_key)
        except ChainUnavailable:
            raise
        except ChainError as error:  # a node that answers an error (a rate limit, say) tells no standing either:
            # this record waits (503, send again), the rest of its group commit is written (docs/formats.md 2.1)
            raise ChainUnavailable(f"the signers' standing could not be read from the chain: {error}") from error

    def _account(self, member: str) -> str:
        try:
            return self.accounts[member]
        except KeyError:
            raise LedgerError(f"no chain account for member {member!r}") from None


class DocumentInvalid(LedgerError, ValueError):
    """One document of many (`verify_documents`) is neither a certificate PDF nor a proof bundle."""

    def __init__(self, index: int, message: str) -> None:
        self.index = index
        super().__init__(f"document {index}: {message}")


def _load(canonical: bytes) -> dict[str, Any]:
    import json

    doc: dict[str, Any] = json.loads(canonical)
    return doc


def _unix_text(moment: str) -> int:
    return unix(datetime.fromisoformat(moment.replace("Z", "+00:00")))


def _reason(text: str) -> bytes:
    raw = text.encode()
    return raw[:32].ljust(32, b"\x00") if len(raw) <= 32 else digest_bytes(raw).sm3
