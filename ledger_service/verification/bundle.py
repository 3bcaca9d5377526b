"""Self-contained proof bundles: a record, its digests, its anchor and (optionally) its attachments' content,
verifiable against any node of the chain without a qledger database (`qledger proof ID > bundle.json`,
`qledger verify bundle.json --rpc URL --consortium consortium.json`). Format: docs/formats.md."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any, Final

from ledger_service.chain.types import Deployment
from ledger_service.errors import LedgerError
from ledger_service.index.models import RecordRow
from ledger_service.verification.target import Anchor, Evidence, RecordTarget

FORMAT: Final = "qledger-proof-bundle/1"


class BundleInvalid(LedgerError, ValueError):
    """Raised when a file is not a well-formed proof bundle; names the field at fault."""


def make_bundle(
    row: RecordRow,
    record: Mapping[str, Any],
    deployment: Deployment,
    block_hash: bytes,
    content: Mapping[str, bytes] | None = None,
) -> dict[str, Any]:
    """The bundle of an anchored record; `content` (attachment name -> bytes) is carried base64-encoded, so that
    a verifier checks the image behind the record too."""
    a = row.anchor
    if a is None:
        raise LedgerError(f"record {row.id} is not anchored yet")
    bundle = {
        "format": FORMAT,
        "record_id": row.id,
        "sha256": row.sha256,
        "record": dict(record),
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
    if content:
        bundle["attachments"] = {name: base64.b64encode(data).decode() for name, data in sorted(content.items())}
    return bundle


def _need(obj: Any, key: str, kind: type, path: str) -> Any:
    if not isinstance(obj, dict) or key not in obj or not isinstance(obj[key], kind) or isinstance(obj[key], bool):
        raise BundleInvalid(f"{path}{key}: missing or not a {kind.__name__}")
    return obj[key]


def _content(bundle: dict[str, Any]) -> dict[str, bytes]:
    carried = bundle.get("attachments", {})
    if not isinstance(carried, dict):
        raise BundleInvalid("attachments: not an object of name -> base64 content")
    out = {}
    for name, text in carried.items():
        if not isinstance(text, str):
            raise BundleInvalid(f"attachments.{name}: not a base64 string")
        try:
            out[str(name)] = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise BundleInvalid(f"attachments.{name}: not valid base64") from None
    return out


def _is_hex32(text: str) -> bool:
    digits = text.removeprefix("0x")
    return len(digits) == 64 and all(c in "0123456789abcdefABCDEF" for c in digits)


def read_bundle(bundle: Any) -> RecordTarget:
    """The record target a bundle holds, with the contracts it names (compared with the trusted ones, never
    believed: docs/threat-model.md)."""
    if _need(bundle, "format", str, "") != FORMAT:
        raise BundleInvalid(f"format: expected {FORMAT}")
    record = _need(bundle, "record", dict, "")
    chain = _need(bundle, "chain", dict, "")
    anchor = _need(bundle, "anchor", dict, "")
    claimed = Deployment(
        chain_id=_need(chain, "chain_id", int, "chain."),
        registry=_need(chain, "registry", str, "chain."),
        ledger=_need(chain, "ledger", str, "chain."),
        recalls=_need(chain, "recalls", str, "chain."),
        block=0,
    )
    tier = _need(anchor, "tier", str, "anchor.")
    root = anchor.get("root") if tier != "A" else None
    proof = _need(anchor, "proof", list, "anchor.")
    if (root is not None and not isinstance(root, str)) or not all(isinstance(p, str) for p in proof):
        raise BundleInvalid("anchor.root, anchor.proof: hex strings expected")
    record_id = _need(bundle, "record_id", str, "")
    tx_hash = _need(anchor, "tx_hash", str, "anchor.")
    block_hash = _need(anchor, "block_hash", str, "anchor.")
    sha256 = _need(bundle, "sha256", str, "")
    checked = [("record_id", record_id), ("sha256", sha256), ("anchor.tx_hash", tx_hash)]
    checked += [("anchor.block_hash", block_hash), ("anchor.root", root or "00" * 32)]
    for path, value in checked:
        if not _is_hex32(value):
            raise BundleInvalid(f"{path}: not 32 bytes of hex")
    if not all(_is_hex32(p) for p in proof):
        raise BundleInvalid("anchor.proof: every node must be 32 bytes of hex")
    evidence = Evidence(
        record=record,
        record_id=record_id,
        anchor=Anchor(
            tier=tier,
            chain_id=claimed.chain_id,
            ledger=claimed.ledger,
            tx_hash=tx_hash,
            block_number=_need(anchor, "block_number", int, "anchor."),
            block_hash=block_hash,
            root=root,
            proof=list(proof),
        ),
        attachment_content=_content(bundle),
        sha256=sha256,
    )
    return RecordTarget(evidence, "bundle", claimed)
