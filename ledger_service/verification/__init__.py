"""Verification in the shape of oa-verify (docs/architecture.md section 7): one module per check under
`checks/`, composed by `verification_builder`, one entry point `verify(target, context)` for a record id's
evidence, a record file, a proof bundle and a certificate PDF; every check gives one fragment with a stable
reason code, and none raises."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from ledger_service.chain.types import Deployment
from ledger_service.chain.web3_client import ChainReader
from ledger_service.store import ContentStore
from ledger_service.verification.builder import Check, Verifier, verification_builder
from ledger_service.verification.bundle import BundleInvalid, make_bundle, read_bundle
from ledger_service.verification.checks import (
    RECORD_CHECKS,
    calibration_validity,
    certificate_contracts,
    certificate_terms,
    chain_anchor,
    issuer_standing,
    lab_account,
    operator_signature,
)
from ledger_service.verification.context import (
    Context,
    TrustAnchor,
    UntrustedAnchor,
    genuine_deployment,
    read_trust_anchor,
)
from ledger_service.verification.fragment import Fragment, Reason, Status, error_fragment, is_valid, not_valid
from ledger_service.verification.target import (
    Anchor,
    CertificateTarget,
    Evidence,
    NotATarget,
    RecordSource,
    RecordTarget,
    Target,
    load_target,
)

verify_record = verification_builder(RECORD_CHECKS)


verify_certificate_contracts = verification_builder([certificate_contracts.CHECK])

# What a certificate states holds only if its record does: the record checks the certificate's own do not
# cover (its anchor and header, its calibration then and now, its lab's accreditation at anchor time, its
# signatures), run over the embedded record and the anchor its credential states. Without them a certificate
# went on verifying after its record's calibration was withdrawn (docs/threat-model.md).
verify_certified_record = verification_builder(
    [chain_anchor.CHECK, calibration_validity.CHECK, certificate_terms.CHECK, issuer_standing.CHECK,
     operator_signature.CHECK]
)  # fmt: skip
CERTIFIED_RECORD = "CertifiedRecord"


def _certified_record(pdf: bytes) -> RecordTarget | Fragment | None:
    """The record a certificate embeds, anchored as its credential's chainAnchor says; None where the PDF
    carries no credential that parses (the certificate checks say why); an INVALID fragment where the anchor
    stated is not one."""
    from esg_reports.certificates import Presented, read_certificate

    presented = read_certificate(pdf)
    if not isinstance(presented, Presented):
        return None
    e = presented.embedded
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
        return not_valid(CERTIFIED_RECORD, "anchored", Status.INVALID, Reason.CREDENTIAL_MALFORMED, message)
    root = None if e.record_root is None else e.record_root.hex()
    anchor = Anchor(tier, chain_id, ledger, tx_hash, block, None, root,
                    [p.hex() for p in e.record_proof])  # fmt: skip
    return RecordTarget(Evidence(e.record, e.record_id, anchor), "bundle")


def _verify_certificate(target: CertificateTarget, context: Context) -> list[Fragment]:
    return verify_certificates([target], context)[0]


def verify_certificates(targets: Sequence[CertificateTarget], context: Context) -> list[list[Fragment]]:
    """`verify` for many certificate PDFs, on the context's one chain reader: what they share is read once and
    their records' statuses in one call (esg_reports.certificates.verify_pdfs)."""
    from esg_reports.certificates import verify_pdfs

    try:
        checks = verify_pdfs(context.chain.client, [t.pdf for t in targets], context.chain)
    except Exception as error:  # a node down, or a bug: an ERROR fragment, never an exception
        checks = [[error_fragment("CertificateCredential", "certificate", error)] for _ in targets]
    out = []
    for target, fragments in zip(targets, checks, strict=True):
        own = list(fragments)
        try:
            record = _certified_record(target.pdf)
        except Exception as error:  # noqa: BLE001 - never an exception out of verification
            record = error_fragment(CERTIFIED_RECORD, "anchored", error)
        if isinstance(record, Fragment):
            own.append(record)
        elif record is not None:
            own += verify_certified_record(record, context)
        out.append(verify_certificate_contracts(target, context) + own)
    return out


def verify(target: Target, context: Context) -> list[Fragment]:
    """Every check over the target, in a fixed order."""
    if isinstance(target, CertificateTarget):
        return _verify_certificate(target, context)
    return verify_record(_with_chain_anchor(target, context), context)


def _with_chain_anchor(target: RecordTarget, context: Context) -> RecordTarget:
    """A record file carries no anchor: the chain's tier A anchor of it by its own lab, where there is one (a
    batched record needs its proof bundle). A node that does not answer leaves it without one: the checks
    then say ERROR, not INVALID."""
    ev = target.evidence
    if target.source != "file" or ev.anchor is not None or context.trusted is None:
        return target
    try:
        lab = lab_account(ev, context.chain)
        receipt = context.chain.client.anchor_receipt(bytes.fromhex(ev.record_id), lab) if lab else None
    except Exception:  # noqa: BLE001 - the checks meet the same fault and report it
        return target
    if receipt is None:
        return target
    anchor = Anchor("A", context.trusted.chain_id, context.trusted.ledger, "0x" + receipt.tx_hash.hex(),
                    receipt.block_number, None, None, [])  # fmt: skip
    return RecordTarget(dataclasses.replace(ev, anchor=anchor), target.source, target.claimed)


def passes(target: Target, fragments: Sequence[Fragment]) -> bool:
    """The verdict: every fragment VALID or SKIPPED, and the checks that must pass for this kind of target did."""
    if isinstance(target, CertificateTarget):
        return is_valid(fragments, ("certificate", "status"))
    return is_valid(fragments)


def verify_many(targets: Sequence[RecordTarget], context: Context) -> list[list[Fragment]]:
    """`verify` for a sweep of records: their statuses are read in JSON-RPC batches first."""
    chain = context.chain
    items = []
    for t in targets:
        e = t.evidence
        lab = lab_account(e, chain)
        if e.anchor is not None and lab is not None:
            root = bytes.fromhex(e.anchor.root) if e.anchor.root else None
            items.append((bytes.fromhex(e.record_id), root, [bytes.fromhex(p) for p in e.anchor.proof], lab))
    chain.prefetch_statuses(items)
    return [verify(t, context) for t in targets]


def verify_bundles(bundles: Sequence[Any], rpc_url: str, trusted: Deployment) -> list[list[Fragment]]:
    """Verify proof bundles against a JSON-RPC node and the consortium's genuine contracts (`trusted`, from its
    trust anchor), with batched status reads. Raises BundleInvalid for a malformed bundle. (Forked workers were
    measured: on two cores the node is the other half of the work, and they gained nothing.)"""
    from ledger_service.chain.jsonrpc import JsonRpcChainClient

    targets = [read_bundle(b) for b in bundles]
    if not targets:
        return []
    client = JsonRpcChainClient(rpc_url)
    client.attach(trusted)
    return verify_many(targets, Context(ChainReader(client), trusted))


def record_context(chain: ChainReader, store: ContentStore | None = None, skip_content: bool = False) -> Context:
    """The context of a verifier that runs beside the ledger: its own chain client's deployment is trusted."""
    return Context(chain, chain.client.deployment, store, skip_content)


__all__ = [
    "Anchor",
    "BundleInvalid",
    "CertificateTarget",
    "Check",
    "Context",
    "Evidence",
    "Fragment",
    "NotATarget",
    "Reason",
    "RecordSource",
    "RecordTarget",
    "Status",
    "Target",
    "TrustAnchor",
    "UntrustedAnchor",
    "Verifier",
    "genuine_deployment",
    "is_valid",
    "load_target",
    "make_bundle",
    "not_valid",
    "passes",
    "read_bundle",
    "read_trust_anchor",
    "record_context",
    "verification_builder",
    "verify",
    "verify_bundles",
    "verify_certificates",
    "verify_many",
    "verify_record",
]
