"""The countable facts of each record, derived once from its canonical JSON into `record_facts`, so that
metrics over a reporting period are SQL aggregates rather than a JSON parse per record per report."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from ledger_service.index import sealing
from ledger_service.index.crud import as_utc
from ledger_service.index.models import RecordFactsRow, RecordRow

# EU critical raw materials (Regulation (EU) 2024/1252, Annex II) that XRF reports as elements.
CRITICAL_ELEMENTS = frozenset(
    {"Sb", "As", "Be", "Bi", "B", "Co", "Cu", "Ga", "Ge", "Hf", "Li", "Mg", "Mn", "Ni", "Nb", "P", "Si", "Sr",
     "Ta", "Ti", "W", "V", "Pt", "Pd", "Rh", "Ir", "Ru", "Os", "Nd", "Pr", "Dy", "Tb", "Sc", "Y", "In"}
)  # fmt: skip
STRESS_STAGES = ("after TC200", "after DH1000", "after HF10", "after UV", "after ML")  # IEC 61215 sequences
EL_FAILING_FEATURES = frozenset({"crack_B", "crack_C", "inactive"})


def facts_of(record_id: str, doc: dict[str, Any]) -> dict[str, Any]:
    """One `record_facts` row from a record document."""
    kind, results = doc["record_type"], doc.get("results", {})
    outcome = screening = critical = stage = degradation = None
    if kind == "xrf_analysis":
        screening = results.get("screening_class")
        outcome = {"BL": "pass", "X": "inconclusive", "OL": "fail"}.get(screening or "")
        found = [e["value"] for e in results.get("elements", []) if e["element"] in CRITICAL_ELEMENTS]
        if found and all(e["unit"] == "mass%" for e in results["elements"] if e["element"] in CRITICAL_ELEMENTS):
            critical = float(sum(found))
    elif kind == "el_image":
        stage = results.get("test_stage")
        features = {f["kind"] for f in results.get("features", [])}
        outcome = "fail" if features & EL_FAILING_FEATURES else "pass"
        degradation = results.get("inactive_area_pct")
        if degradation is None and stage in STRESS_STAGES:
            degradation = 0.0 if outcome == "pass" else None
    elif kind in ("ai_inspection", "human_review"):
        decision = results.get("decision")
        outcome = {"pass": "pass", "fail": "fail", "review": "inconclusive"}.get(decision or "")
    subject = doc["subject"]
    return {
        "record_id": record_id,
        "record_type": kind,
        "lab_member": doc["lab"]["member_id"],
        "product": subject.get("product"),
        "lot": subject.get("lot"),
        "unit_id": subject["unambiguous_id"],
        "measured_at": doc["measured_at"],
        "outcome": outcome,
        "screening": screening,
        "critical_mass_pct": critical,
        "test_stage": stage,
        "degradation_pct": degradation,
        "calibration_id": doc["instrument"]["calibration"]["certificate_record_id"],
    }


def refresh(session: Session, batch: int = 5000) -> int:
    """Derive the facts of every record that has none yet; returns how many rows were added."""
    added = 0
    while True:
        rows = session.execute(
            select(RecordRow.id, RecordRow.canonical)
            .outerjoin(RecordFactsRow, RecordFactsRow.record_id == RecordRow.id)
            .where(RecordFactsRow.record_id.is_(None))
            .limit(batch)
        ).all()
        if not rows:
            return added
        facts = []
        for record_id, canonical in rows:
            f = facts_of(record_id, json.loads(sealing.canonical_of(session, record_id, canonical)))
            f["measured_at"] = as_utc(_parse_time(f["measured_at"]))
            facts.append(f)
        session.execute(insert(RecordFactsRow), facts)
        session.flush()
        added += len(facts)


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
