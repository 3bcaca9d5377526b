"""Verification in the shape of oa-verify (docs/architecture.md section 7): one module per check under
`checks/`, composed by `verification_builder`, one entry point `verify(target, context)` for a record id's
evidence, a record file, a proof bundle and a certificate PDF; every check gives one fragment with a stable
reason code, and none raises."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any

from ledger_service.chain.types import Deployment
from ledger_service.chain.web3_client import ChainReader
from ledger_service.store import ContentStore
from ledger_service.verification.builder import Check, Verifier, verification_builder
from ledger_service.verification.bundle import BundleInvalid, make_bundle, read_bundle
from ledger_service.verification.checks import RECORD_CHECKS, certificate_contracts, lab_account
from ledger_service.verification.context import (
    Context,
    TrustAnchor,
    UntrustedAnchor,
    genuine_deployment,
    read_trust_anchor,
)
from ledger_service.verification.fragment import Fragment, Reason, Status, is_valid, not_valid
from ledger_service.verification.prefetch import prefetch_record, prefetch_records
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


@functools.cache
def certificate_verifier() -> Verifier:
    """The certificate verifier: CertificateContracts, the certificate's own checks and the record checks over
    the record it certifies (esg_reports/certificate_checks, one module each; imported here lazily: ledger_service
    does not depend on esg_reports at import time), composed by `verification_builder`."""
    from esg_reports.certificate_checks import CERTIFICATE_CHECKS, CERTIFIED_RECORD_CHECKS

    return verification_builder([certificate_contracts.CHECK, *CERTIFICATE_CHECKS, *CERTIFIED_RECORD_CHECKS])


def verify_certificates(targets: Sequence[CertificateTarget], context: Context) -> list[list[Fragment]]:
    """`verify` for many certificate PDFs, on the context's one chain reader: what they share is read once and
    their records' statuses in one call (esg_reports.certificate_checks.prepare), then one builder run each."""
    from esg_reports.certificate_checks import prepare

    prepare(targets, context.chain)
    verifier = certificate_verifier()
    return [verifier(target, context) for target in targets]


def verify(target: Target, context: Context) -> list[Fragment]:
    """Every check over the target, in a fixed order."""
    if isinstance(target, CertificateTarget):
        return verify_certificates([target], context)[0]
    target = _with_chain_anchor(target, context)
    prefetch_record(target, context.chain)  # every read of the checks in two JSON-RPC batches
    return verify_record(target, context)


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
    prefetch_records(targets, chain)  # the rest of every record's reads, in two rounds of batches for them all
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
    "certificate_verifier",
    "verification_builder",
    "verify",
    "verify_bundles",
    "verify_certificates",
    "verify_many",
    "verify_record",
]
