"""CertificateAnchor: the leaf of credential and page is under the root, and that root was anchored by the
issuer, as a certificate root: the RootAnchored event of the stated transaction, emitted by the consortium's
ledger, names the issuer as submitter and the certificate schema. A RootAnchored event of that root emitted by
another contract (a forger's copy of the contracts on the same chain) proves nothing: UNTRUSTED_EMITTER, as
ChainAnchor says of a record (docs/threat-model.md, "a forger with no membership")."""

from __future__ import annotations

from typing import Any

from web3.exceptions import TransactionNotFound

from esg_reports.certificate_checks._support import cert_of, has_credential
from esg_reports.certificates import CERTIFICATE_SCHEMA, certificate_leaf, issuer_account, same_account
from ledger_service import merkle
from ledger_service.chain.web3_client import ChainReader
from ledger_service.verification.builder import Check
from ledger_service.verification.context import Context
from ledger_service.verification.fragment import Fragment, Reason, Status, not_valid, valid
from ledger_service.verification.target import CertificateTarget

NAME = "CertificateAnchor"


def _invalid(code: Reason, message: str, **data: Any) -> Fragment:
    return not_valid(NAME, "certificate", Status.INVALID, code, message, **data)


def _events(chain: ChainReader, tx_hash: bytes, foreign: bool) -> list[dict[str, Any]]:
    try:
        return chain.foreign_anchor_events(tx_hash) if foreign else chain.anchor_events(tx_hash)
    except TransactionNotFound:
        return []


def _untrusted(chain: ChainReader, tx_hash: bytes, root: bytes) -> Fragment | None:
    """UNTRUSTED_EMITTER where the transaction's RootAnchored event of this root came from another contract."""
    foreign = [ev for ev in _events(chain, tx_hash, True) if ev["event"] == "RootAnchored" and ev["root"] == root]
    if not foreign:
        return None
    return _invalid(
        Reason.UNTRUSTED_EMITTER,
        "the transaction's RootAnchored event was emitted by another contract than the consortium's ledger",
        emitter=foreign[0]["emitter"],
    )


def verify(target: CertificateTarget, context: Context) -> Fragment:
    e, chain = cert_of(target).embedded, context.chain
    if not merkle.verify(certificate_leaf(e.credential_sm3, e.page_sm3), e.proof, e.root):
        return _invalid(Reason.DIGEST_MISMATCH, "not the credential anchored")
    issuer = issuer_account(chain, e.issuer_did)
    if issuer is None:
        return _invalid(Reason.NOT_ANCHORED, "the issuer is not a member")
    if int(chain.root_of(e.root, issuer)["anchored_at"]) == 0:
        return _untrusted(chain, e.tx_hash, e.root) or _invalid(Reason.NOT_ANCHORED, "its root is not on chain")
    mine = [
        ev for ev in _events(chain, e.tx_hash, False)
        if ev["event"] == "RootAnchored" and same_account(ev["submitter"], issuer) and ev["root"] == e.root
    ]  # fmt: skip
    if not mine:
        return _untrusted(chain, e.tx_hash, e.root) or _invalid(
            Reason.ANCHOR_TX_MISMATCH, "the transaction does not anchor this root"
        )
    if mine[0]["schema"] != CERTIFICATE_SCHEMA:
        return _invalid(
            Reason.CERTIFICATE_SCHEMA_MISMATCH,
            f"the issuer anchored this root as another kind (schema {bytes(mine[0]['schema']).hex()})",
        )
    return valid(NAME, "certificate", root=e.root.hex(), tx_hash="0x" + e.tx_hash.hex())


CHECK = Check(NAME, "certificate", has_credential, verify)
