"""Verification results, in the shape of oa-verify: one fragment per check, never an exception.

A fragment is VALID, INVALID (the evidence says no), ERROR (we could not tell: a node down; never folded
into INVALID) or SKIPPED (does not apply). Every status but VALID carries a reason with a stable code.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Final, Literal, ParamSpec

from ledger_service.errors import ChainUnavailable, StoreUnavailable

FragmentType = Literal["integrity", "anchored", "issuer", "calibration", "operator", "status", "certificate"]


class Status(StrEnum):
    VALID = "VALID"
    INVALID = "INVALID"
    ERROR = "ERROR"
    SKIPPED = "SKIPPED"


class Reason(StrEnum):
    """Stable reason codes. NOTE: public API: NEVER change or reuse a value; only append."""

    DIGEST_MISMATCH = "DIGEST_MISMATCH"
    ATTACHMENT_DIGEST_MISMATCH = "ATTACHMENT_DIGEST_MISMATCH"
    ATTACHMENT_NOT_PROVIDED = "ATTACHMENT_NOT_PROVIDED"
    NOT_ANCHORED = "NOT_ANCHORED"
    MERKLE_PROOF_INVALID = "MERKLE_PROOF_INVALID"
    ANCHOR_TX_MISMATCH = "ANCHOR_TX_MISMATCH"
    HEADER_MISMATCH = "HEADER_MISMATCH"
    BLOCK_MISMATCH = "BLOCK_MISMATCH"
    WRONG_CHAIN = "WRONG_CHAIN"
    REVOKED = "REVOKED"
    SUPERSEDED = "SUPERSEDED"
    ISSUER_SUSPENDED = "ISSUER_SUSPENDED"
    ISSUER_NOT_ACCREDITED = "ISSUER_NOT_ACCREDITED"
    CALIBRATION_NOT_ANCHORED = "CALIBRATION_NOT_ANCHORED"
    CALIBRATION_REVOKED = "CALIBRATION_REVOKED"
    CALIBRATION_EXPIRED = "CALIBRATION_EXPIRED"
    OPERATOR_NOT_SIGNED = "OPERATOR_NOT_SIGNED"
    NO_ATTACHMENTS = "NO_ATTACHMENTS"
    CHAIN_UNAVAILABLE = "CHAIN_UNAVAILABLE"
    STORE_UNAVAILABLE = "STORE_UNAVAILABLE"
    UNEXPECTED_ERROR = "UNEXPECTED_ERROR"
    CONFIDENTIAL = "CONFIDENTIAL"  # stored encrypted: checked after a recall unlock, or by its owner
    NO_CREDENTIAL = "NO_CREDENTIAL"  # a certificate PDF without its embedded credential
    TEMPLATE_NOT_ANCHORED = "TEMPLATE_NOT_ANCHORED"
    VISIBLE_TEXT_MISMATCH = "VISIBLE_TEXT_MISMATCH"  # the page does not show what the credential says
    NO_TEXT_EXTRACTOR = "NO_TEXT_EXTRACTOR"
    RECORD_TYPE_MISMATCH = "RECORD_TYPE_MISMATCH"  # anchored as another record type (or schema) than it is
    TIER_MISMATCH = "TIER_MISMATCH"  # the bundle's tier is not the one the chain's event says
    CALIBRATION_MISMATCH = "CALIBRATION_MISMATCH"  # the window a record or certificate states is not the chain's
    NOT_A_CERTIFICATE = "NOT_A_CERTIFICATE"  # CertificateTerms: the record is not a calibration certificate
    DOES_NOT_APPLY = "DOES_NOT_APPLY"  # the check is not one for this kind of target
    NO_TRUST_ANCHOR = "NO_TRUST_ANCHOR"  # the verifier holds no trust anchor: the contracts cannot be told genuine
    UNTRUSTED_CONTRACTS = "UNTRUSTED_CONTRACTS"  # the contracts named are not those the trust anchor leads to
    CONTENT_SKIPPED = "CONTENT_SKIPPED"  # the user asked not to check attachments' content
    PDF_INCREMENTAL_UPDATE = "PDF_INCREMENTAL_UPDATE"  # a certificate PDF of more than one revision
    PDF_ACTIVE_CONTENT = "PDF_ACTIVE_CONTENT"  # document entries that can change or replace what is shown
    PDF_DAMAGED = "PDF_DAMAGED"  # a PDF that opens only repaired, or past the verifier's limits
    PAGE_DIGEST_MISMATCH = "PAGE_DIGEST_MISMATCH"  # the pages are not those anchored with the credential
    CERTIFICATE_SCHEMA_MISMATCH = "CERTIFICATE_SCHEMA_MISMATCH"  # a certificate root anchored as another kind
    ISSUER_MISMATCH = "ISSUER_MISMATCH"  # the credential's issuer is not the lab of the record it certifies
    RECORD_DIGEST_MISMATCH = "RECORD_DIGEST_MISMATCH"  # the embedded record's SM3 is not the record id named
    CREDENTIAL_RECORD_MISMATCH = "CREDENTIAL_RECORD_MISMATCH"  # the credential says what its record does not
    CREDENTIAL_MALFORMED = "CREDENTIAL_MALFORMED"  # the embedded credential lacks a field or has an ill-typed one
    ANCHOR_NOT_GIVEN = "ANCHOR_NOT_GIVEN"  # a record file with no anchor the chain shows: give its proof bundle
    SIGNATURE_MALFORMED = "SIGNATURE_MALFORMED"  # a signature entry that is not one (missing or ill-typed field)
    SIGNATURE_INVALID = "SIGNATURE_INVALID"  # the SM2 value does not sign this record's statement (altered record)
    SIGNER_NOT_ENROLLED = "SIGNER_NOT_ENROLLED"  # the key is not one the record's lab enrolled for that person
    SIGNER_MISMATCH = "SIGNER_MISMATCH"  # signed as operator or checker by someone the record does not name
    SIGNED_AFTER_WITHDRAWAL = "SIGNED_AFTER_WITHDRAWAL"  # dated at or after the signer's key was withdrawn
    SIGNER_WITHDRAWN = "SIGNER_WITHDRAWN"  # the record was anchored after the signer's key was withdrawn
    CREDENTIAL_PROOF_INVALID = "CREDENTIAL_PROOF_INVALID"  # the credential's Data Integrity or SM2 proof fails
    CREDENTIAL_KEY_UNBOUND = "CREDENTIAL_KEY_UNBOUND"  # the issuer's DID keys are not bound to its registry account
    UNTRUSTED_EMITTER = "UNTRUSTED_EMITTER"  # the anchoring event was emitted by another contract than the ledger
    SUSPENDED_BY_RECALL = "SUSPENDED_BY_RECALL"  # a certificate whose item a recall in force covers
    MEASURED_AFTER_ANCHOR = "MEASURED_AFTER_ANCHOR"  # a record dated later than the block that anchored it


@dataclass(frozen=True)
class Fragment:
    name: str  # the verifier's name, e.g. "Sm3RecordHash"
    type: FragmentType
    status: Status
    reason: dict[str, str] | None = None  # {"code": ..., "message": ...}; None only when VALID
    data: dict[str, Any] = field(default_factory=dict)  # JSON-serialisable details

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["status"] = str(self.status)
        return out


def valid(name: str, type_: FragmentType, **data: Any) -> Fragment:
    return Fragment(name, type_, Status.VALID, None, data)


def not_valid(name: str, type_: FragmentType, status: Status, code: Reason, message: str, **data: Any) -> Fragment:
    return Fragment(name, type_, status, {"code": str(code), "message": message}, data)


P = ParamSpec("P")


def coded_errors(name: str, type_: FragmentType) -> Callable[[Callable[P, Fragment]], Callable[P, Fragment]]:
    """Turns an exception inside a check into an ERROR fragment: the one place that does (oa-verify's
    withCodedErrorHandler). An unreachable node or store is ERROR with its code; anything else is
    UNEXPECTED_ERROR.
    """

    def wrap(check: Callable[P, Fragment]) -> Callable[P, Fragment]:
        @functools.wraps(check)
        def run(*args: P.args, **kwargs: P.kwargs) -> Fragment:
            try:
                return check(*args, **kwargs)
            except Exception as error:  # a bug or an unforeseen answer: say so, never crash the verification
                return error_fragment(name, type_, error)

        return run

    return wrap


def error_fragment(name: str, type_: FragmentType, error: Exception) -> Fragment:
    """The ERROR fragment of a check that raised: an unreachable node or store with its code, anything else
    UNEXPECTED_ERROR."""
    if isinstance(error, ChainUnavailable):
        return not_valid(name, type_, Status.ERROR, Reason.CHAIN_UNAVAILABLE, str(error))
    if isinstance(error, StoreUnavailable):
        return not_valid(name, type_, Status.ERROR, Reason.STORE_UNAVAILABLE, str(error))
    return not_valid(name, type_, Status.ERROR, Reason.UNEXPECTED_ERROR, f"{type(error).__name__}: {error}")


REQUIRED: Final[tuple[FragmentType, ...]] = ("integrity", "anchored", "status", "calibration")


def is_valid(fragments: Sequence[Fragment], types: Iterable[FragmentType] = REQUIRED) -> bool:
    """Passes when each required type has a VALID fragment and every fragment is VALID or SKIPPED."""
    if any(f.status not in (Status.VALID, Status.SKIPPED) for f in fragments):
        return False
    return all(any(f.type == t and f.status is Status.VALID for f in fragments) for t in types)
