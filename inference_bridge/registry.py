"""The model registry: a model card (name, version, SM3 of the ONNX file and of the training-set manifest,
metrics, classes, intended use, threshold) is anchored (its SM3 as a one-leaf tier C root) and indexed; the
bridge runs a model only if its file's SM3 matches an anchored card."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from inference_bridge.runtime import OnnxModel
from ledger_service import merkle
from ledger_service.canonical import canonical_json
from ledger_service.digests import sm3
from ledger_service.errors import LedgerError, UnknownEntry
from ledger_service.index.models import ModelCardRow
from ledger_service.service import LedgerService

MODELS = Path(__file__).resolve().parent / "models"
DEMO_MODEL = "elpv-defect-v1"  # the committed demo classifier: <name>-v<version>.{onnx,card.json,manifest.json}
DEMO_CARD = MODELS / f"{DEMO_MODEL}.card.json"
REQUIRED = ("name", "version", "kind", "classes", "threshold", "input_size", "onnx_sm3", "training_manifest_sm3",
            "metrics", "intended_use")  # fmt: skip


class ModelRefused(LedgerError):
    """A model the registry does not vouch for: no anchored card, or a file that differs from its card."""


def card_id(card: dict[str, Any]) -> str:
    return sm3(canonical_json(card)).hex()


def register(service: LedgerService, card: dict[str, Any], member: str) -> str:
    """Anchor a model card and index it; returns its id (the SM3 of its canonical JSON)."""
    missing = [k for k in REQUIRED if k not in card]
    if missing:
        raise LedgerError(f"the model card lacks {', '.join(missing)}")
    digest = card_id(card)
    with service.sessions() as session:
        if session.get(ModelCardRow, digest) is not None:
            return digest
    receipt = service.anchor_digests(member=member, digests=[bytes.fromhex(digest)], kind="model_card")
    with service.sessions.begin() as session:
        session.add(
            ModelCardRow(
                card_id=digest,
                name=card["name"],
                version=str(card["version"]),
                document=canonical_json(card),
                tx_hash="0x" + receipt.tx_hash.hex(),
                created_at=datetime.now(UTC),
            )
        )
    return digest


def anchored_card(service: LedgerService, ref: str) -> tuple[str, dict[str, Any]]:
    """The card with this id, or the latest with this name (or name@version), checked anchored on chain."""
    with service.sessions() as session:
        row = session.get(ModelCardRow, ref)
        if row is None:
            name, _, version = ref.partition("@")
            query = session.query(ModelCardRow).filter(ModelCardRow.name == name)
            if version:
                query = query.filter(ModelCardRow.version == version)
            row = query.order_by(ModelCardRow.created_at.desc()).first()
        if row is None:
            raise ModelRefused(f"no anchored model card {ref!r}: register the card first")
        digest, document = row.card_id, json.loads(row.document)
    if not service.root_anchored(merkle.root([bytes.fromhex(digest)])):
        raise ModelRefused(f"model card {digest} is not anchored on this chain")
    return digest, document


def load(
    service: LedgerService, ref: str, onnx_path: str | Path | None = None, threads: int = 0
) -> tuple[str, dict[str, Any], OnnxModel]:
    """The model behind an anchored card, refused unless the file's SM3 is the card's."""
    digest, card = anchored_card(service, ref)
    path = Path(onnx_path) if onnx_path else MODELS / f"{card['name']}-v{card['version']}.onnx"
    if not path.exists():
        raise UnknownEntry(f"no model file {path}")
    onnx = path.read_bytes()  # the session is built from the very bytes whose digest is checked
    actual = sm3(onnx).hex()
    if actual != card["onnx_sm3"]:
        raise ModelRefused(f"{path.name}: SM3 {actual[:16]}... is not the anchored card's {card['onnx_sm3'][:16]}...")
    model = OnnxModel(onnx, card["kind"], list(card["classes"]), int(card["input_size"]), threads)
    return digest, card, model
