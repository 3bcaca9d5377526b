"""How off-chain identifiers become the bytes32 values the contracts check."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ledger_service.chain.types import Header
from ledger_service.digests import sm3


def instrument_key(instrument_id: str) -> bytes:
    """On-chain id of an instrument: SM3 of its id string."""
    return sm3(b"instrument:" + instrument_id.encode())


def operator_key(lab_member: str, operator_id: str) -> bytes:
    """On-chain id of an operator, pseudonymous and scoped to the lab."""
    return sm3(f"operator:{lab_member}:{operator_id}".encode())


def schema_key(record_type: str, schema_version: str) -> bytes:
    """The schema digest a tier C root names."""
    return sm3(f"schema:{record_type}/{schema_version}".encode())


def unix(moment: datetime) -> int:
    return int(moment.timestamp())


def measured_at(document: Mapping[str, Any]) -> int:
    """A record document's measured_at (RFC 3339) as Unix time."""
    return unix(datetime.fromisoformat(str(document["measured_at"]).replace("Z", "+00:00")))


def header_of(document: Mapping[str, Any], record_id: bytes) -> Header:
    """The header the contracts check, derived from a record document: the one derivation the anchoring
    pipeline and the verifiers share."""
    return Header(
        record_id=record_id,
        instrument_id=instrument_key(document["instrument"]["id"]),
        calibration_digest=bytes.fromhex(document["instrument"]["calibration"]["certificate_record_id"]),
        operator_id=operator_key(document["lab"]["member_id"], document["operator"]["id"]),
        measured_at=measured_at(document),
    )
