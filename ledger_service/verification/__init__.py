"""Verification: one fragment per check with stable reason codes (DESIGN.md section 6)."""

from __future__ import annotations

from ledger_service.chain.web3_client import ChainReader
from ledger_service.store import ContentStore
from ledger_service.verification import checks
from ledger_service.verification.bundle import BundleInvalid, make_bundle, read_bundle
from ledger_service.verification.checks import Anchor, Evidence
from ledger_service.verification.fragment import Fragment, Reason, Status, is_valid


def verify(evidence: Evidence, chain: ChainReader, store: ContentStore | None = None) -> list[Fragment]:
    """Every check over the evidence, in a fixed order."""
    return [
        checks.sm3_record_hash(evidence),
        checks.attachment_hashes(evidence, store),
        checks.chain_anchor(evidence, chain),
        checks.record_status(evidence, chain),
        checks.calibration(evidence, chain),
        checks.issuer(evidence, chain),
        checks.operator(evidence),
    ]


__all__ = [
    "Anchor",
    "BundleInvalid",
    "Evidence",
    "Fragment",
    "Reason",
    "Status",
    "is_valid",
    "make_bundle",
    "read_bundle",
    "verify",
]
