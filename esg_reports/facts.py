"""The countable facts of each record, derived once from its canonical JSON into `record_facts`, so that
metrics over a reporting period are SQL aggregates rather than a JSON parse per record per report."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from ledger_service.index import sealing
from ledger_service.index.crud import as_utc
from ledger_service.index.models import RecordFactsRow, RecordRow

# EU critical raw materials, Regulation (EU) 2024/1252, Annex II, as the chemical elements XRF reports:
# antimony, arsenic, bauxite/alumina/aluminium, baryte (Ba), beryllium, bismuth, boron, cobalt, copper, fluorspar (F),
# gallium, germanium, hafnium, lithium, magnesium, manganese, nickel, niobium, phosphorus (and phosphate rock),
# the platinum-group metals, scandium, silicon metal, strontium, tantalum, titanium metal, tungsten, vanadium,
# and the heavy and light rare earth elements. Coking coal, feldspar, helium and natural graphite are not
# elements XRF can attribute, and are left out (docs/domain.md section 5).
CRITICAL_ELEMENTS = frozenset(
    {"Sb", "As", "Al", "Ba", "Be", "Bi", "B", "Co", "Cu", "F", "Ga", "Ge", "Hf", "Li", "Mg", "Mn", "Ni", "Nb", "P",
     "Pt", "Pd", "Rh", "Ir", "Ru", "Os", "Sc", "Si", "Sr", "Ta", "Ti", "W", "V",
     "Dy", "Er", "Eu", "Gd", "Ho", "Lu", "Tb", "Tm", "Yb", "Y",  # heavy rare earth elements
     "Ce", "La", "Nd", "Pr", "Sm"}  # light rare earth elements
)  # fmt: skip
STRESS_STAGES = ("after TC200", "after DH1000", "after HF10", "after UV", "after ML")  # IEC 61215 sequences
EL_FAILING_FEATURES = frozenset({"crack_B", "crack_C", "inactive"})
TO_MASS_PCT = {"mass%": 1.0, "mg/kg": 1e-4}  # 1 mass % = 10 000 mg/kg; coating units (µm, g/m²) are no content


def facts_of(record_id: str, doc: dict[str, Any]) -> dict[str, Any]:
    """One `record_facts` row from a record document."""
    kind, results = doc["record_type"], doc.get("results", {})
    outcome = screening = stage = reviewed = pmax = None
    crm: dict[str, float] | None = None
    if kind == "xrf_analysis":
        screening = results.get("screening_class")
        outcome = {"BL": "pass", "X": "inconclusive", "OL": "fail"}.get(screening or "")
        found: dict[str, float] = {}
        for e in results.get("elements", []):
            if e["element"] in CRITICAL_ELEMENTS and e["unit"] in TO_MASS_PCT:
                found[e["element"]] = found.get(e["element"], 0.0) + float(e["value"]) * TO_MASS_PCT[e["unit"]]
        crm = found or None
    elif kind == "el_image":
        stage = results.get("test_stage")
        features = {f["kind"] for f in results.get("features", [])}
        outcome = "fail" if features & EL_FAILING_FEATURES else "pass"
    elif kind == "ai_inspection":
        outcome = {"pass": "pass", "fail": "fail", "review": "inconclusive"}.get(results.get("decision") or "")
    elif kind == "human_review":
        outcome = {"pass": "pass", "fail": "fail"}.get(results.get("decision") or "")
        reviewed = results.get("reviewed_record_id")
    elif kind == "power_measurement":
        stage = results.get("test_stage")
        pmax = float(results["pmax_W"])
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
        "test_stage": stage,
        "calibration_id": doc["instrument"]["calibration"]["certificate_record_id"],
        "reviewed_record_id": reviewed,
        "pmax_w": pmax,
        "crm": crm,
    }


def refresh(session: Session, batch: int = 5000) -> int:
    """Derive the facts of every record that has none yet; returns how many rows were added."""
    added = 0
    # Every facts row belongs to a record (its key is a record id): equal counts mean none is missing, and the
    # search for records without facts below reads the whole records table.
    if session.scalar(select(func.count()).select_from(RecordRow)) == session.scalar(
        select(func.count()).select_from(RecordFactsRow)
    ):
        return 0
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
