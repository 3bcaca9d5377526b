"""Decisions as records: each image is decoded, preprocessed and classified (or searched for defects); the
decision becomes an `ai_inspection` record (input image SM3 and CID, model card id and SM3, threshold, runtime
and provider, outputs with confidences, decision) submitted in group commits and anchored in tier B batches.
A person's confirmation or override is a `human_review` record linked to it."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from inference_bridge.preprocess import Image
from inference_bridge.runtime import OnnxModel, Prediction
from ledger_service.digests import digest_bytes
from ledger_service.errors import LedgerError, UnknownEntry
from ledger_service.index import crud
from ledger_service.index.models import ReviewTaskRow
from ledger_service.service import LedgerService

REVIEW_BAND = 0.1  # a defect probability this close to the threshold goes to a person
# (record type, results, unit id, image attachment) -> a full record envelope for the inspection station
EnvelopeOf = Callable[[str, dict[str, Any], str, list[dict[str, Any]]], dict[str, Any]]


@dataclass(frozen=True)
class Decision:
    path: Path
    record_id: str
    decision: str  # pass | fail | review
    confidence: float  # of the positive (defect) class, or of the best detection
    outputs: list[dict[str, Any]]
    unit: str = ""  # subject.unambiguous_id, e.g. "MOD-0001/C03": module / cell
    lot: str = ""
    instrument: str = ""


def decide(card: dict[str, Any], prediction: Prediction) -> tuple[str, float, list[dict[str, Any]]]:
    """pass / fail / review from a prediction and the card's threshold."""
    threshold = float(card["threshold"])
    if card["kind"] == "classifier":
        positive = dict(prediction.scores)[card["positive_class"]]
        outputs = [{"label": label, "confidence": p} for label, p in prediction.scores]
    else:
        positive = max((d.confidence for d in prediction.detections), default=0.0)
        outputs = [{"label": d.label, "confidence": d.confidence, "box": list(d.box)} for d in prediction.detections]
    if abs(positive - threshold) < REVIEW_BAND:
        return "review", positive, outputs
    return ("fail" if positive >= threshold else "pass"), positive, outputs


class Inspector:
    def __init__(
        self,
        service: LedgerService,
        model: OnnxModel,
        card_id: str,
        card: dict[str, Any],
        envelope: EnvelopeOf,
        actor: str,
        batch: int = 32,
    ) -> None:
        self.service, self.model, self.card_id, self.card = service, model, card_id, card
        self.envelope, self.actor, self.batch = envelope, actor, batch

    def run(self, paths: Sequence[Path], progress: Callable[[int], None] | None = None) -> list[Decision]:
        """Inspect images, record every decision, open review tasks; anchoring is left to the caller (or the
        service's worker), which batches it. Inference of one batch overlaps the recording of the previous one
        (ONNX Runtime and OpenCV release the GIL), so the audit trail costs little wall time."""
        out: list[Decision] = []
        with ThreadPoolExecutor(1, thread_name_prefix="recorder") as recorder:
            pending: Future[list[Decision]] | None = None
            for i in range(0, len(paths), self.batch):
                chunk = list(paths[i : i + self.batch])
                raws = [p.read_bytes() for p in chunk]
                predictions = self.model.predict([_decode(path, raw) for path, raw in zip(chunk, raws, strict=True)])
                if pending is not None:
                    out += pending.result()
                pending = recorder.submit(self._record, chunk, raws, predictions)
                if progress:
                    progress(len(chunk))
            if pending is not None:
                out += pending.result()
        return out

    def _record(self, chunk: list[Path], raws: list[bytes], predictions: list[Prediction]) -> list[Decision]:
        records: list[tuple[dict[str, Any], list[Any]]] = []
        decided = []
        for path, raw, prediction in zip(chunk, raws, predictions, strict=True):
            decision, confidence, outputs = decide(self.card, prediction)
            d = digest_bytes(raw)
            image = {"name": path.name, "media_type": "image/png", "size": d.size, "sm3": d.sm3_hex,
                     "sha256": d.sha256_hex, "cid": self.service.store.put(raw)}  # fmt: skip
            results = {
                "model_card_id": self.card_id,
                "model_sm3": self.card["onnx_sm3"],
                "input_image_sm3": d.sm3_hex,
                "threshold": float(self.card["threshold"]),
                "runtime": self.model.runtime,
                "outputs": outputs,
                "decision": decision,
            }
            raw_record = self.envelope("ai_inspection", results, path.stem, [image])
            records.append((raw_record, []))
            decided.append((path, decision, confidence, outputs, raw_record))
        submitted = self.service.submit_many(records, actor=self.actor)
        review = [(s.record_id, d[2]) for s, d in zip(submitted, decided, strict=True) if d[1] == "review"]
        open_review_tasks(self.service, [(r, f"defect probability {c:.2f} near the threshold") for r, c in review])
        return [
            Decision(p, s.record_id, dec, c, o, r["subject"]["unambiguous_id"], r["subject"].get("lot") or "",
                     r["instrument"]["id"])
            for s, (p, dec, c, o, r) in zip(submitted, decided, strict=True)
        ]  # fmt: skip


def _decode(path: Path, raw: bytes) -> Image:
    image = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise LedgerError(f"{path.name}: not an image OpenCV can decode")
    return np.asarray(image, np.uint8)


def open_review_tasks(service: LedgerService, tasks: Sequence[tuple[str, str]]) -> None:
    if not tasks:
        return
    with service.sessions.begin() as session:
        for record_id, reason in tasks:
            if session.get(ReviewTaskRow, record_id) is None:
                session.add(ReviewTaskRow(record_id=record_id, reason=reason, opened_at=datetime.now(UTC)))


def pending_reviews(service: LedgerService, limit: int = 100) -> list[dict[str, Any]]:
    with service.sessions() as session:
        rows = (
            session.query(ReviewTaskRow)
            .filter(ReviewTaskRow.review_record_id.is_(None))
            .order_by(ReviewTaskRow.opened_at)
            .limit(limit)
            .all()
        )
        return [{"record_id": r.record_id, "reason": r.reason, "opened_at": r.opened_at.isoformat()} for r in rows]


def review(
    service: LedgerService,
    record_id: str,
    *,
    verdict: str,
    decision: str,
    reason: str,
    envelope: EnvelopeOf,
    actor: str,
) -> str:
    """A person confirms or overrides an AI decision: a `human_review` record linked to it; closes its task."""
    with service.sessions() as session:
        row = crud.get_record(session=session, record_id=record_id)
        if row is None or row.record_type != "ai_inspection":
            raise UnknownEntry(f"no AI inspection record {record_id}")
        unit = json.loads(row.canonical)["subject"]["unambiguous_id"]
    if verdict not in ("confirm", "override") or decision not in ("pass", "fail"):
        raise LedgerError("a review's verdict is confirm or override, its decision pass or fail")
    raw = envelope(
        "human_review",
        {"reviewed_record_id": record_id, "verdict": verdict, "decision": decision, "reason": reason},
        unit,
        [],
    )
    raw["links"] = [{"rel": "derived_from", "record_id": record_id}]
    review_id = service.submit(raw, actor=actor).record_id
    with service.sessions.begin() as session:
        task = session.get(ReviewTaskRow, record_id)
        if task is None:
            session.add(ReviewTaskRow(record_id=record_id, reason="reviewed unasked", opened_at=datetime.now(UTC),
                                      review_record_id=review_id))  # fmt: skip
        else:
            task.review_record_id = review_id
    return review_id
