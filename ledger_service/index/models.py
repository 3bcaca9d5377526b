"""The SQL index: records, attachments, anchors, status, the append-only audit trail (21 CFR 11.10(e)),
and the ledger facts records are validated against (operators, calibration certificates).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


# One quality record, keyed by its SM3 record id (hex); the canonical JSON is kept for offline verification.
class RecordRow(Base):
    __tablename__ = "records"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    record_type: Mapped[str] = mapped_column(String(40), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    lab_member: Mapped[str] = mapped_column(String(80), index=True)
    lot: Mapped[str | None] = mapped_column(String(120), index=True)
    product: Mapped[str | None] = mapped_column(String(120), index=True)
    measured_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    confidentiality: Mapped[str] = mapped_column(String(16))
    canonical: Mapped[bytes] = mapped_column(LargeBinary)
    cid: Mapped[str | None] = mapped_column(String(100))
    # accepted | anchored | revoked | superseded | dead_letter (refused by the contracts: see DeadLetterRow)
    status: Mapped[str] = mapped_column(String(16), index=True)
    superseded_by: Mapped[str | None] = mapped_column(String(64))
    # When the content reached the store it must end up in; None while it waits in the local spool.
    pinned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)

    attachments: Mapped[list[AttachmentRow]] = relationship(back_populates="record", order_by="AttachmentRow.position")
    anchor: Mapped[AnchorRow | None] = relationship(back_populates="record")


class AttachmentRow(Base):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)  # attachments may pass 2 GB
    sm3: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    cid: Mapped[str | None] = mapped_column(String(100))

    record: Mapped[RecordRow] = relationship(back_populates="attachments")


# Where and how a record was anchored; the proof is empty for tier A. The block hash is checked against the
# chain until the block is `confirmations` deep (then `confirmed`): docs/architecture.md section 4.
class AnchorRow(Base):
    __tablename__ = "anchors"

    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), primary_key=True)
    tier: Mapped[str] = mapped_column(String(1))
    chain_id: Mapped[int] = mapped_column(BigInteger)  # EIP-155 ids pass 2**31 (eth-tester: 131277322940537)
    contract: Mapped[str] = mapped_column(String(42))
    tx_hash: Mapped[str] = mapped_column(String(66), index=True)
    block_number: Mapped[int] = mapped_column(BigInteger, index=True)
    block_hash: Mapped[str | None] = mapped_column(String(66))  # None: anchored before migration 0010
    block_time: Mapped[int] = mapped_column(BigInteger)
    confirmed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false(), index=True)
    root: Mapped[str | None] = mapped_column(String(64), index=True)
    leaf_index: Mapped[int | None] = mapped_column(Integer)
    proof: Mapped[list[str]] = mapped_column(JSON)

    record: Mapped[RecordRow] = relationship(back_populates="anchor")


# Append-only (database triggers refuse UPDATE and DELETE): who did what, when, to which field, and why.
class AuditRow(Base):
    __tablename__ = "audit_trail"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[str | None] = mapped_column(String(64), index=True)
    field: Mapped[str | None] = mapped_column(String(80))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    prev_sm3: Mapped[str | None] = mapped_column(String(64))  # the previous entry's SM3 (hash chain)
    entry_sm3: Mapped[str | None] = mapped_column(String(64))  # SM3 over this entry and prev_sm3 (index/audit.py)


# The audit trail's head: its last entry's id and SM3 (one row, id 1). Appends lock it, so the chain has one order.
class AuditHeadRow(Base):
    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_id: Mapped[int] = mapped_column(BigInteger)
    last_sm3: Mapped[str] = mapped_column(String(64))


# Heads of the audit trail anchored on chain (a one-leaf tier C root each): a rewrite before them is caught.
class AuditAnchorRow(Base):
    __tablename__ = "audit_anchors"

    entry_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    entry_sm3: Mapped[str] = mapped_column(String(64))
    root: Mapped[str] = mapped_column(String(64))
    tx_hash: Mapped[str] = mapped_column(String(66))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# Operators authorised by each lab (7.5.1): records naming anyone else are refused.
class OperatorRow(Base):
    __tablename__ = "operators"

    lab_member: Mapped[str] = mapped_column(String(80), primary_key=True)
    operator_id: Mapped[str] = mapped_column(String(120), primary_key=True)


# Calibration certificates by id, with the instrument and window they cover: ledger records, or (external)
# traceability roots such as a national metrology institute's certificate of a reference standard.
class CertificateRow(Base):
    __tablename__ = "certificates"

    record_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    external: Mapped[bool] = mapped_column(Boolean, default=False)
    instrument_id: Mapped[str] = mapped_column(String(120), index=True)
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# A member's API credential: the key is shown once when issued; only its SM3 is kept.
class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    key_sm3: Mapped[str] = mapped_column(String(64), primary_key=True)
    member: Mapped[str] = mapped_column(String(80), index=True)
    account: Mapped[str] = mapped_column(String(42))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# The write-ahead log of anchoring: a signed transaction and the records it anchors, kept before it is sent,
# so that after a crash it is resent (same hash, same nonce) or found mined, never replaced by a second one.
class AttemptRow(Base):
    __tablename__ = "anchor_attempts"

    tx_hash: Mapped[str] = mapped_column(String(66), primary_key=True)
    tier: Mapped[str] = mapped_column(String(1))
    sender: Mapped[str] = mapped_column(String(42))
    nonce: Mapped[int] = mapped_column(BigInteger)
    record_ids: Mapped[list[str]] = mapped_column(JSON)  # in leaf order
    raw_tx: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(12), index=True)  # sending | done | abandoned
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# Escrow policies (consortium configuration), as anchored: the latest is in force for new confidential records.
class EscrowPolicyRow(Base):
    __tablename__ = "escrow_policies"

    sm3: Mapped[str] = mapped_column(String(64), primary_key=True)
    document: Mapped[bytes] = mapped_column(LargeBinary)  # canonical JSON
    tx_hash: Mapped[str] = mapped_column(String(66))  # the anchoring transaction (tier C root of the digest)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


# A confidential record's escrow envelope (its data key's shares, each SM2-encrypted to an agent).
class EscrowRow(Base):
    __tablename__ = "escrows"

    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), primary_key=True)
    policy_sm3: Mapped[str] = mapped_column(String(64))
    lot_sm3: Mapped[str] = mapped_column(String(64), index=True)
    product_sm3: Mapped[str] = mapped_column(String(64), index=True)
    envelope: Mapped[bytes] = mapped_column(LargeBinary)  # canonical JSON
    envelope_cid: Mapped[str] = mapped_column(String(100))


# The record list behind a recall whose scope is a Merkle root of record ids.
class RecallScopeRow(Base):
    __tablename__ = "recall_scopes"

    root: Mapped[str] = mapped_column(String(64), primary_key=True)
    record_ids: Mapped[list[str]] = mapped_column(JSON)


# An escrow agent's release for a recall, written before it is posted (so a restart re-posts the same one).
class ReleaseRow(Base):
    __tablename__ = "releases"

    recall_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    agent: Mapped[str] = mapped_column(String(80), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    cid: Mapped[str] = mapped_column(String(100))
    shares: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(12))  # prepared | posted
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# Where an escrow agent's watcher has read the chain up to.
class AgentCursorRow(Base):
    __tablename__ = "agent_cursors"

    agent: Mapped[str] = mapped_column(String(80), primary_key=True)
    last_block: Mapped[int] = mapped_column(BigInteger)


# What disclosures count, one row per record, derived from its canonical JSON (esg_reports.facts).
class RecordFactsRow(Base):
    __tablename__ = "record_facts"

    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), primary_key=True)
    record_type: Mapped[str] = mapped_column(String(40))
    lab_member: Mapped[str] = mapped_column(String(80))
    product: Mapped[str | None] = mapped_column(String(120))
    lot: Mapped[str | None] = mapped_column(String(120))
    unit_id: Mapped[str] = mapped_column(String(120))  # subject.unambiguous_id: the item tested
    measured_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String(14))  # pass | fail | inconclusive; None: no verdict
    screening: Mapped[str | None] = mapped_column(String(2))  # XRF IEC 62321-3-1: BL | X | OL
    test_stage: Mapped[str | None] = mapped_column(String(40))
    calibration_id: Mapped[str] = mapped_column(String(64))
    reviewed_record_id: Mapped[str | None] = mapped_column(String(64))  # human_review: the record it amends
    pmax_w: Mapped[float | None] = mapped_column(Float)  # power_measurement: Pmax at STC (IEC 60904-1)
    crm: Mapped[dict[str, float] | None] = mapped_column(JSON)  # XRF: EU critical raw material -> mass %


# Submissions refused at ingest (nothing of them is indexed): the denominator of data completeness.
class RefusalRow(Base):
    __tablename__ = "refusals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(String(120))
    record_type: Mapped[str | None] = mapped_column(String(40))
    missing_mandatory: Mapped[bool] = mapped_column(Boolean)
    codes: Mapped[list[str]] = mapped_column(JSON)


# Model cards of the inference bridge, as anchored (their SM3 as a one-leaf tier C root).
class ModelCardRow(Base):
    __tablename__ = "model_cards"

    card_id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SM3 of the canonical card
    name: Mapped[str] = mapped_column(String(120))
    version: Mapped[str] = mapped_column(String(40))
    document: Mapped[bytes] = mapped_column(LargeBinary)
    tx_hash: Mapped[str] = mapped_column(String(66))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# AI decisions waiting for a person: opened by the pipeline (decision "review") or by a rule.
class ReviewTaskRow(Base):
    __tablename__ = "review_tasks"

    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    review_record_id: Mapped[str | None] = mapped_column(String(64))  # the human_review record that closed it


Index("ix_records_type_time", RecordRow.record_type, RecordRow.measured_at)
Index("ix_record_facts_period", RecordFactsRow.measured_at, RecordFactsRow.record_type)
Index("ix_record_facts_unit", RecordFactsRow.unit_id)


# Records the contracts refused to anchor (the lab suspended, an accreditation expired, a calibration withdrawn):
# out of the anchoring queue with the refusal's code and reason, until retried (after reinstatement, say).
class DeadLetterRow(Base):
    __tablename__ = "dead_letters"

    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), primary_key=True)
    code: Mapped[str] = mapped_column(String(60))
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# Content replicated over the members' IPFS nodes (IPFS Cluster): on how many nodes each CID is pinned, against
# the replication factor asked for (docs/architecture.md section 11).
class PinRow(Base):
    __tablename__ = "pins"

    cid: Mapped[str] = mapped_column(String(100), primary_key=True)
    peers_pinned: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    replication_min: Mapped[int] = mapped_column(Integer)
    # pinning (fewer nodes than replication_min hold it) | replicated | missing (the cluster lost track of it)
    state: Mapped[str] = mapped_column(String(16), index=True)
    pinned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # when it was handed to the cluster
    checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    replicated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # first seen replicated


# A certificate's place in its issuer's Bitstring Status Lists (docs/formats.md section 9.1): one index per
# certified record and issuer, the same for every certificate of that record, never reused.
class StatusEntryRow(Base):
    __tablename__ = "status_entries"

    member: Mapped[str] = mapped_column(String(120), primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), index=True)
