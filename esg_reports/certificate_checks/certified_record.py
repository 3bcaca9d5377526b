"""What a certificate states holds only if its record does: the record checks the certificate's own do not
cover (its anchor and header, its calibration then and now, its lab's accreditation at anchor time, its
signatures), run over the embedded record and the anchor its credential states. Without them a certificate went
on verifying after its record's calibration was withdrawn (docs/threat-model.md).

`CertifiedRecord` speaks only where the credential's `chainAnchor` states no anchor (INVALID
CREDENTIAL_MALFORMED), and then the record checks do not run; `on_certified_record(check)` registers a record
check (ledger_service/verification/checks) as a certificate check of the same name, over that record."""

from __future__ import annotations

from esg_reports.certificate_checks._support import presented
from esg_reports.certificates import Presented
from ledger_service.verification.builder import Check
from ledger_service.verification.checks import (
    calibration_validity,
    certificate_terms,
    chain_anchor,
    issuer_standing,
    operator_signature,
)
from ledger_service.verification.context import Context
from ledger_service.verification.fragment import Fragment, Reason, Status, error_fragment, not_valid
from ledger_service.verification.target import Anchor, CertificateTarget, Evidence, RecordTarget, Target

NAME = "CertifiedRecord"
_RECORD = "certified_record"


def _read(cert: Presented) -> RecordTarget | Fragment:
    e = cert.embedded
    stated = e.credential["chainAnchor"]
    try:
        tier, chain_id, ledger = str(stated["tier"]), stated["chainId"], str(stated["contract"])
        block, tx_hash = stated["blockNumber"], stated["txHash"]
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in (chain_id, block)):
            raise TypeError("chainId and blockNumber must be integers")
        if not (isinstance(tx_hash, str) and tx_hash.startswith("0x") and len(tx_hash) == 66):
            raise TypeError("txHash must be 0x and 32 bytes of hex")
        bytes.fromhex(tx_hash[2:])
    except (KeyError, TypeError, ValueError) as error:
        message = f"credential.chainAnchor does not state the record's anchor ({type(error).__name__}: {error})"
        return not_valid(NAME, "anchored", Status.INVALID, Reason.CREDENTIAL_MALFORMED, message)
    root = None if e.record_root is None else e.record_root.hex()
    anchor = Anchor(tier, chain_id, ledger, tx_hash, block, None, root, [p.hex() for p in e.record_proof])
    return RecordTarget(Evidence(e.record, e.record_id, anchor), "bundle")


def certified_record(target: CertificateTarget) -> RecordTarget | Fragment | None:
    """The record a certificate embeds, anchored as its credential's chainAnchor says (read once per target);
    None where the PDF carries no credential that parses (CertificateCredential says why); an INVALID (or,
    for an unforeseen input, ERROR) CertifiedRecord fragment where the anchor stated is not one."""
    if _RECORD not in target.memo:
        cert = presented(target)
        try:
            found: RecordTarget | Fragment | None = _read(cert) if isinstance(cert, Presented) else None
        except Exception as error:  # noqa: BLE001 - never an exception out of verification
            found = error_fragment(NAME, "anchored", error)
        target.memo[_RECORD] = found
    record: RecordTarget | Fragment | None = target.memo[_RECORD]
    return record


def _anchor_unstated(target: Target) -> bool:
    return isinstance(target, CertificateTarget) and isinstance(certified_record(target), Fragment)


def _verify(target: CertificateTarget, context: Context) -> Fragment:
    found = certified_record(target)
    assert isinstance(found, Fragment)
    return found


CHECK = Check(NAME, "anchored", _anchor_unstated, _verify, gate=True, quiet=True)


def on_certified_record(check: Check) -> Check:
    """A record check, registered for a certificate: it runs over the certified record."""

    def applies(target: Target) -> bool:
        return isinstance(target, CertificateTarget) and isinstance(certified_record(target), RecordTarget)

    def verify(target: CertificateTarget, context: Context) -> Fragment:
        record = certified_record(target)
        assert isinstance(record, RecordTarget)
        return check.verify(record, context) if check.applies(record) else check.skip()

    return Check(check.name, check.type, applies, verify, check.skip_reason, check.skip_message)


CHECKS = (
    CHECK,
    *(on_certified_record(c) for c in (chain_anchor.CHECK, calibration_validity.CHECK, certificate_terms.CHECK,
                                       issuer_standing.CHECK, operator_signature.CHECK)),
)  # fmt: skip
