"""The registered checks, one module each, in the order their fragments are reported."""

from __future__ import annotations

from typing import Final

from ledger_service.verification.builder import Check
from ledger_service.verification.checks import (
    attachment_hashes,
    calibration_validity,
    certificate_terms,
    chain_anchor,
    consortium_contracts,
    issuer_standing,
    operator_signature,
    record_status,
    sm3_record_hash,
)
from ledger_service.verification.checks._support import lab_account

RECORD_CHECKS: Final[tuple[Check, ...]] = (
    sm3_record_hash.CHECK,
    attachment_hashes.CHECK,
    consortium_contracts.CHECK,
    chain_anchor.CHECK,
    record_status.CHECK,
    calibration_validity.CHECK,
    certificate_terms.CHECK,
    issuer_standing.CHECK,
    operator_signature.CHECK,
)

__all__ = ["RECORD_CHECKS", "lab_account"]
