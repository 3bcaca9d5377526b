"""How off-chain identifiers become the bytes32 values the contracts check."""

from __future__ import annotations

from datetime import datetime

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
