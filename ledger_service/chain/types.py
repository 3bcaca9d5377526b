"""Values that cross the chain client interface."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final

ZERO32: Final = b"\x00" * 32


class Role(IntEnum):
    """Member role bits, as in contracts/common/Types.sol."""

    LAB = 1
    MANUFACTURER = 2
    REGULATOR = 4
    AUDITOR = 8
    ESCROW_AGENT = 16
    REFERENCE_BODY = 32  # a root of traceability (a national metrology institute): declares its primary standards


class Tier(IntEnum):
    A = 1
    B = 2
    C = 3


class OnChainStatus(IntEnum):
    NONE = 0
    ANCHORED = 1
    REVOKED = 2
    SUPERSEDED = 3


@dataclass(frozen=True)
class Accreditation:
    body: str
    number: str
    scope_digest: bytes
    record_types: frozenset[int]
    valid_until: int  # Unix time


@dataclass(frozen=True)
class Founder:
    account: str  # checksum address
    organisation_id: str
    roles: int  # bitmask of Role
    accreditation: Accreditation | None = None


@dataclass(frozen=True)
class ConsortiumSpec:
    """What a fresh consortium is deployed with."""

    founders: tuple[Founder, ...]
    quorum_bps: int = 5000
    strike_threshold: int = 3
    voting_period_s: int = 7 * 86_400
    recall_confirmation: int = 0  # 0 regulator alone, 1 member quorum


@dataclass(frozen=True)
class Deployment:
    """Where the consortium contracts live on one chain."""

    chain_id: int
    registry: str
    ledger: str
    recalls: str
    block: int


@dataclass(frozen=True)
class Header:
    """The fields of a record the contracts enforce (tier A and B)."""

    record_id: bytes  # SM3 of the canonical record
    instrument_id: bytes
    calibration_digest: bytes  # record id of the calibration certificate
    operator_id: bytes
    measured_at: int  # Unix time


@dataclass(frozen=True)
class PreparedTx:
    """A signed transaction not yet known to be mined: kept before sending so that a crash can resend it."""

    sender: str
    nonce: int
    tx_hash: bytes
    raw: bytes


@dataclass(frozen=True)
class Receipt:
    """Where a transaction landed."""

    tx_hash: bytes
    block_number: int
    block_time: int
    gas_used: int
    block_hash: bytes = ZERO32  # the block's hash: an anchor is checked against it (docs/architecture.md section 4)


@dataclass(frozen=True)
class BatchReceipt(Receipt):
    """A tier B or C anchor: the Merkle root and the record ids in leaf order."""

    root: bytes = ZERO32
    record_ids: tuple[bytes, ...] = field(default=())


@dataclass(frozen=True)
class RecallView:
    """A recall as RecallRegistry holds it."""

    recall_id: int
    regulator: str
    scope_kind: int  # 0 lot, 1 product, 2 records (Merkle root)
    status: int  # 0 none, 1 proposed, 2 confirmed, 3 closed
    opened_at: int
    confirmed_at: int
    closed_at: int
    approvals: int
    releases: int
    scope: bytes
    reason: bytes
