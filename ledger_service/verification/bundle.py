"""Self-contained proof bundles: a record, its digests and its anchor, verifiable against any node of the
chain without a qledger database (`qledger proof ID > bundle.json`, `qledger verify bundle.json --rpc URL`).
"""

from __future__ import annotations

import json
from typing import Any, Final

from ledger_service.chain.types import Deployment
from ledger_service.errors import LedgerError
from ledger_service.index.models import RecordRow
from ledger_service.verification.checks import Anchor, Evidence

FORMAT: Final = "qledger-proof-bundle/1"


class BundleInvalid(LedgerError, ValueError):
    """Raised when a file is not a well-formed proof bundle; names the field at fault."""


def make_bundle(row: RecordRow, deployment: Deployment, block_hash: bytes) -> dict[str, Any]:
    """The bundle of an anchored record."""
    a = row.anchor
    if a is None:
        raise LedgerError(f"record {row.id} is not anchored yet")
    return {
        "format": FORMAT,
        "record_id": row.id,
        "sha256": row.sha256,
        "record": json.loads(row.canonical),
        "chain": {
            "chain_id": deployment.chain_id,
            "registry": deployment.registry,
            "ledger": deployment.ledger,
            "recalls": deployment.recalls,
        },
        "anchor": {
            "tier": a.tier,
            "tx_hash": a.tx_hash,
            "block_number": a.block_number,
            "block_hash": "0x" + block_hash.hex(),
            "block_time": a.block_time,
            "root": a.root,
            "leaf_index": a.leaf_index,
            "proof": list(a.proof),
            "hash": "keccak256(sm3) leaves, sorted-pair keccak256 nodes",
        },
    }


def _need(obj: Any, key: str, kind: type, path: str) -> Any:
    if not isinstance(obj, dict) or key not in obj or not isinstance(obj[key], kind):
        raise BundleInvalid(f"{path}{key}: missing or not a {kind.__name__}")
    return obj[key]


def read_bundle(bundle: Any) -> tuple[Evidence, Deployment]:
    """The evidence and the chain deployment a bundle names."""
    if _need(bundle, "format", str, "") != FORMAT:
        raise BundleInvalid(f"format: expected {FORMAT}")
    record = _need(bundle, "record", dict, "")
    chain = _need(bundle, "chain", dict, "")
    anchor = _need(bundle, "anchor", dict, "")
    deployment = Deployment(
        chain_id=_need(chain, "chain_id", int, "chain."),
        registry=_need(chain, "registry", str, "chain."),
        ledger=_need(chain, "ledger", str, "chain."),
        recalls=_need(chain, "recalls", str, "chain."),
        block=0,
    )
    tier = _need(anchor, "tier", str, "anchor.")
    evidence = Evidence(
        record=record,
        record_id=_need(bundle, "record_id", str, ""),
        anchor=Anchor(
            tier=tier,
            chain_id=deployment.chain_id,
            ledger=deployment.ledger,
            tx_hash=_need(anchor, "tx_hash", str, "anchor."),
            block_number=_need(anchor, "block_number", int, "anchor."),
            block_hash=_need(anchor, "block_hash", str, "anchor."),
            root=anchor.get("root") if tier != "A" else None,
            proof=list(_need(anchor, "proof", list, "anchor.")),
        ),
    )
    return evidence, deployment
