"""The audited pipeline on real EL images: the registry refuses a model its anchored card does not vouch for;
decisions become anchored ai_inspection records; a person's override is a linked human_review record; rules
turn decisions into actions recorded in the audit trail; the committed model matches its card."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import elpv_dataset
import pytest
from sqlalchemy import select

from inference_bridge import pipeline, registry, rules
from inference_bridge.pipeline import Decision, Inspector
from ledger_service.config import Settings
from ledger_service.demo import LAB, Demo
from ledger_service.digests import sm3, sm3_file
from ledger_service.index.models import AuditRow, RecordRow, ReviewTaskRow
from ledger_service.runtime import Runtime, open_runtime
from ledger_service.verification import is_valid

CARD = registry.DEMO_CARD
IMAGES = Path(elpv_dataset.__file__).parent / "data" / "images"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Runtime, Demo, str]]:
    runtime = open_runtime(Settings(data_dir=tmp_path_factory.mktemp("inference")))
    demo = Demo(runtime.service, runtime.keys)
    demo.found_consortium()
    demo.calibrate_instruments()
    card_id = registry.register(runtime.service, json.loads(CARD.read_text()), member=LAB)
    yield runtime, demo, card_id


def test_the_committed_model_matches_its_card() -> None:
    card = json.loads(CARD.read_text())
    assert sm3_file(registry.MODELS / f"{registry.DEMO_MODEL}.onnx").hex() == card["onnx_sm3"]
    manifest = (registry.MODELS / f"{registry.DEMO_MODEL}.manifest.json").read_bytes()
    assert sm3(manifest).hex() == card["training_manifest_sm3"]
    items = json.loads(manifest)["items"]
    assert len(items) == 2624 and sum(i["split"] == "test" for i in items) == card["metrics"]["held_out_images"]
    assert card["metrics"]["accuracy"] > 0.75 and "non-commercial" in card["licence"]


def test_the_registry_refuses_what_no_anchored_card_vouches_for(
    world: tuple[Runtime, Demo, str], tmp_path: Path
) -> None:
    runtime, _, card_id = world
    digest, card, model = registry.load(runtime.service, card_id)
    assert digest == card_id and model.kind == "classifier"
    version = json.loads(CARD.read_text())["version"]
    assert registry.load(runtime.service, f"elpv-defect@{version}")[0] == card_id  # by name and version
    tampered = tmp_path / "model.onnx"
    shutil.copyfile(registry.MODELS / f"{registry.DEMO_MODEL}.onnx", tampered)
    with open(tampered, "ab") as f:
        f.write(b"\0")  # one byte more: another file
    with pytest.raises(registry.ModelRefused, match="is not the anchored card"):
        registry.load(runtime.service, card_id, tampered)
    with pytest.raises(registry.ModelRefused, match="no anchored model card"):
        registry.load(runtime.service, "0" * 64)


def test_decisions_are_anchored_records_and_a_person_overrides_one(world: tuple[Runtime, Demo, str]) -> None:
    runtime, demo, card_id = world
    s = runtime.service
    _, card, model = registry.load(s, card_id)
    paths = sorted(IMAGES.glob("*.png"))[:24]
    decisions = Inspector(s, model, card_id, card, demo.inspection_envelope, actor=LAB, batch=10).run(paths)
    assert len(decisions) == 24 and {d.decision for d in decisions} <= {"pass", "fail", "review"}
    assert s.anchor_pending() == 24
    first = decisions[0]
    with s.sessions() as session:
        doc = json.loads(session.scalars(select(RecordRow.canonical).where(RecordRow.id == first.record_id)).one())
    assert doc["results"]["model_card_id"] == card_id and doc["results"]["model_sm3"] == card["onnx_sm3"]
    assert doc["results"]["input_image_sm3"] == sm3(first.path.read_bytes()).hex()
    assert doc["attachments"][0]["cid"] and doc["subject"]["unambiguous_id"].endswith(first.path.stem)
    assert "CPUExecutionProvider" in doc["results"]["runtime"] or "CUDA" in doc["results"]["runtime"]
    assert is_valid(s.verify(first.record_id, {first.path.name: first.path.read_bytes()}))

    flipped = "pass" if first.decision == "fail" else "fail"
    review_id = pipeline.review(
        s, first.record_id, verdict="override", decision=flipped, reason="visual check: no crack",
        envelope=demo.inspection_envelope, actor=LAB,
    )  # fmt: skip
    s.anchor_pending()
    assert is_valid(s.verify(review_id))
    with s.sessions() as session:
        review = json.loads(session.scalars(select(RecordRow.canonical).where(RecordRow.id == review_id)).one())
    assert review["results"] == {"reviewed_record_id": first.record_id, "verdict": "override", "decision": flipped,
                                 "reason": "visual check: no crack"}  # fmt: skip
    assert first.record_id not in {t["record_id"] for t in pipeline.pending_reviews(s)}


def test_rules_turn_decisions_into_recorded_actions(world: tuple[Runtime, Demo, str]) -> None:
    runtime, _, _ = world
    parsed = rules.parse(
        {"rules": [
            {"name": "cracked-module", "when": {"decision": "fail", "min_confidence": 0.8, "count": 3, "per": "module"},
             "then": ["quarantine_lot", "open_review_task"]},
            {"name": "busy-camera", "when": {"decision": "fail", "count": 4, "per": "instrument"},
             "then": ["flag_instrument"]},
        ]}
    )  # fmt: skip
    with runtime.service.sessions() as session:
        tasked = select(ReviewTaskRow.record_id)
        query = select(RecordRow.id).where(RecordRow.record_type == "ai_inspection", RecordRow.id.not_in(tasked))
        ids = list(session.scalars(query.limit(5)))

    def d(i: int, module: str, confidence: float, decision: str = "fail") -> Decision:
        return Decision(Path(f"c{i}.png"), ids[i], decision, confidence, [], f"{module}/c{i}", "LOT-7", "EL-CAM-01")

    decisions = [d(0, "MOD-1", 0.9), d(1, "MOD-1", 0.85), d(2, "MOD-1", 0.95), d(3, "MOD-2", 0.9), d(4, "MOD-2", 0.5)]
    actions = rules.evaluate(parsed, decisions)
    assert [(a.rule, a.action, a.target) for a in actions] == [
        ("cracked-module", "quarantine_lot", "LOT-7"),
        ("cracked-module", "open_review_task", "MOD-1"),
        ("busy-camera", "flag_instrument", "EL-CAM-01"),
    ]
    assert actions[0].record_ids == ids[:3]
    rules.execute(runtime.service, actions, actor="rules")
    with runtime.service.sessions() as session:
        audited = session.scalars(select(AuditRow.new_value).where(AuditRow.action == "rule_action")).all()
    assert sorted(audited) == ["flag_instrument:EL-CAM-01", "open_review_task:MOD-1", "quarantine_lot:LOT-7"]
    pending = {t["record_id"] for t in pipeline.pending_reviews(runtime.service)}
    assert set(ids[:3]) <= pending
    with pytest.raises(Exception, match="rule bad"):
        rules.parse({"rules": [{"name": "bad", "when": {"decision": "fail"}, "then": ["delete_everything"]}]})
