"""Decisions as records: each image is decoded, preprocessed and classified (or searched for defects); the
decision becomes an `ai_inspection` record (input image SM3 and CID, model card id and SM3, threshold, runtime
and provider, outputs with confidences, decision) submitted in group commits and anchored in tier B batches.
A person's confirmation or override is a `human_review` record linked to it."""

from __future__ import annotations

import json
import logging
import mimetypes
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from inference_bridge.runtime import OnnxModel, Prediction
from inference_bridge.worker import InferenceWorker
from ledger_service.digests import Digests
from ledger_service.errors import ChainUnavailable, LedgerError, UnknownEntry
from ledger_service.index import crud
from ledger_service.index.models import RecordRow, ReviewTaskRow
from ledger_service.service import BATCH_B, LedgerService

log = logging.getLogger(__name__)
REVIEW_BAND = 0.1  # a defect probability this close to the threshold goes to a person
AHEAD = 4  # batches queued to the inference process: it keeps busy while a tier B batch is anchored
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
    """Runs a model over images and records every decision. Use it as a context manager to keep its
    inference process (started in about a second) across several `run`s."""

    def __init__(
        self,
        service: LedgerService,
        model: OnnxModel,
        card_id: str,
        card: dict[str, Any],
        envelope: EnvelopeOf,
        actor: str,
        batch: int = 64,
        anchor_every: int = BATCH_B,
    ) -> None:
        self.service, self.model, self.card_id, self.card = service, model, card_id, card
        self.envelope, self.actor, self.batch = envelope, actor, batch
        self.anchor_every = anchor_every  # 0: leave anchoring to the caller or the service's worker
        self._unanchored = 0
        self._worker: InferenceWorker | None = None
        self.runtime = model.runtime  # what the inference process reports once started

    def __enter__(self) -> Inspector:
        self._worker = InferenceWorker(self.model.spec)
        self.runtime = self._worker.runtime
        return self

    def __exit__(self, *exc: object) -> None:
        if self._worker is not None:
            self._worker.close()
            self._worker = None

    def run(self, paths: Sequence[Path], progress: Callable[[int], None] | None = None) -> list[Decision]:
        """Inspect images, record every decision, open review tasks, and anchor each full tier B batch as it
        fills; the caller anchors what is left (`service.anchor_pending`). A child process infers (AHEAD
        batches in advance) while this one records: the audit trail costs little wall time."""
        if self._worker is None:
            with self:
                return self.run(paths, progress)
        worker = self._worker
        chunks = [list(paths[i : i + self.batch]) for i in range(0, len(paths), self.batch)]
        out: list[Decision] = []
        try:
            for chunk in chunks[:AHEAD]:
                worker.submit(chunk)
            for k, chunk in enumerate(chunks):
                raws, digests, predictions = worker.result(chunk)
                if k + AHEAD < len(chunks):
                    worker.submit(chunks[k + AHEAD])
                out += self._record(chunk, raws, digests, predictions)
                if progress:
                    progress(len(chunk))
        except BaseException:
            self.__exit__()  # answers to batches sent ahead are still queued: the next run starts a new process
            raise
        return out

    def _record(
        self, chunk: list[Path], raws: list[bytes], digests: list[Digests], predictions: list[Prediction]
    ) -> list[Decision]:
        records: list[tuple[dict[str, Any], list[Any]]] = []
        decided = []
        cids = self.service.store.put_many(raws)  # one store transaction for the batch's images
        for path, d, cid, prediction in zip(chunk, digests, cids, predictions, strict=True):
            decision, confidence, outputs = decide(self.card, prediction)
            media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            image = {"name": path.name, "media_type": media_type, "size": d.size, "sm3": d.sm3_hex,
                     "sha256": d.sha256_hex, "cid": cid}  # fmt: skip
            results = {
                "model_card_id": self.card_id,
                "model_sm3": self.card["onnx_sm3"],
                "input_image_sm3": d.sm3_hex,
                "threshold": float(self.card["threshold"]),
                "runtime": self.runtime,
                "outputs": outputs,
                "decision": decision,
            }
            raw_record = self.envelope("ai_inspection", results, path.stem, [image])
            records.append((raw_record, []))
            decided.append((path, decision, confidence, outputs, raw_record))
        submitted = self.service.submit_many(records, actor=self.actor)
        self._unanchored += len(submitted)
        if self.anchor_every and self._unanchored >= self.anchor_every:
            try:
                self.service.anchor_pending(actor=self.actor)
                self._unanchored = 0
            except ChainUnavailable as down:  # the records wait in the outbox; the caller anchors them later
                log.warning("anchoring deferred: %s", down)
        review = [(s.record_id, d[2]) for s, d in zip(submitted, decided, strict=True) if d[1] == "review"]
        open_review_tasks(self.service, [(r, f"defect probability {c:.2f} near the threshold") for r, c in review])
        return [
            Decision(p, s.record_id, dec, c, o, r["subject"]["unambiguous_id"], r["subject"].get("lot") or "",
                     r["instrument"]["id"])
            for s, (p, dec, c, o, r) in zip(submitted, decided, strict=True)
        ]  # fmt: skip


def open_review_tasks(service: LedgerService, tasks: Sequence[tuple[str, str]]) -> None:
    """Queue records for a person's review, each once."""
    if not tasks:
        return
    with service.sessions.begin() as session:
        ids = [r for r, _ in tasks]
        have = set(session.scalars(select(ReviewTaskRow.record_id).where(ReviewTaskRow.record_id.in_(ids))))
        now = datetime.now(UTC)
        rows = {r: {"record_id": r, "reason": reason, "opened_at": now} for r, reason in tasks if r not in have}
        if rows:
            session.execute(insert(crud.table(ReviewTaskRow)), list(rows.values()))


def pending_reviews(service: LedgerService, limit: int = 100, lab: str | None = None) -> list[dict[str, Any]]:
    """AI decisions waiting for a person, oldest first; with `lab`, that lab's decisions only (another lab's
    queue is none of its business, and may name confidential records)."""
    with service.sessions() as session:
        query = session.query(ReviewTaskRow).filter(ReviewTaskRow.review_record_id.is_(None))
        if lab is not None:
            query = query.join(RecordRow, RecordRow.id == ReviewTaskRow.record_id).filter(RecordRow.lab_member == lab)
        rows = query.order_by(ReviewTaskRow.opened_at).limit(limit).all()
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
    sign: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> str:
    """A person confirms or overrides an AI decision: a `human_review` record linked to it, signed by that
    person through `sign` (their electronic signature, meaning "performed"); closes its task."""
    with service.sessions() as session:
        row = crud.get_record(session=session, record_id=record_id)
        if row is None or row.record_type != "ai_inspection":
            raise UnknownEntry(f"no AI inspection record {record_id}")
        unit = json.loads(crud.canonical(session=session, row=row))["subject"]["unambiguous_id"]
    if verdict not in ("confirm", "override") or decision not in ("pass", "fail"):
        raise LedgerError("a review's verdict is confirm or override, its decision pass or fail")
    raw = envelope(
        "human_review",
        {"reviewed_record_id": record_id, "verdict": verdict, "decision": decision, "reason": reason},
        unit,
        [],
    )
    raw["links"] = [{"rel": "derived_from", "record_id": record_id}]
    if sign is not None:
        raw = sign(raw)
    review_id = service.submit(raw, actor=actor).record_id
    with service.sessions.begin() as session:
        task = session.get(ReviewTaskRow, record_id)
        if task is None:
            session.add(ReviewTaskRow(record_id=record_id, reason="reviewed unasked", opened_at=datetime.now(UTC),
                                      review_record_id=review_id))  # fmt: skip
        else:
            task.review_record_id = review_id
    return review_id
