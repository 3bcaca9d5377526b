"""The reference calculator (esg_reports/reperform.py) on a hand-made pack with hand-computed figures: it reads
values.jsonl streamed, so what depends on order (first inspection, the latest review, qualification samples
met after a unit's production records) must come out the same in any line order."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

CALCULATOR = Path(__file__).resolve().parents[2] / "esg_reports" / "reperform.py"
CAL = {"cal_from": "2025-06-01T00:00:00.000000Z", "cal_until": "2027-06-01T00:00:00.000000Z", "cal_ok": True}


def row(rid: str, kind: str, unit: str, product: str, at: str, **values: Any) -> dict[str, Any]:
    base = {"id": rid, "type": kind, "unit": unit, "product": product, "lot": f"LOT-{product}", "member": "LAB-SZ",
            "at": f"{at}T08:00:00.000000Z", "outcome": None, "screening": None, "stage": None, "pmax": None,
            "crm": None, "reviewed": None, "status": "anchored", "superseded_by": None, "anchored": True,
            **CAL}  # fmt: skip
    return {**base, **values}


ROWS = [
    # U1: first inspection an EL pass; a later AI fail a person overrode to pass (the review is met first below)
    row("a1", "el_image", "U1", "P", "2026-02-01", outcome="pass", stage="initial"),
    row("a2", "power_measurement", "U1", "P", "2026-02-01", stage="initial", pmax=400.0),
    row("a3", "ai_inspection", "U1", "P", "2026-02-02", outcome="fail"),
    row("a4", "human_review", "U1", "P", "2026-02-03", outcome="pass", reviewed="a3", anchored=False),
    # U2: an AI pass overridden to fail: a failing unit, not a first-time pass; an earlier review to pass is not
    # the latest
    row("b1", "ai_inspection", "U2", "P", "2026-03-01", outcome="pass"),
    row("b2", "human_review", "U2", "P", "2026-03-02", outcome="fail", reviewed="b1"),
    row("b0", "human_review", "U2", "P", "2026-03-01", outcome="pass", reviewed="b1"),
    row("b3", "power_measurement", "U2", "P", "2026-03-01", stage="initial", pmax=410.0),
    # U3: a qualification sample (a flash test after TC200 lost 5 %), never production
    row("c1", "power_measurement", "U3", "P", "2026-04-01", stage="initial", pmax=400.0),
    row("c2", "power_measurement", "U3", "P", "2026-05-01", stage="after TC200", pmax=380.0),
    row("c3", "el_image", "U3", "P", "2026-05-01", outcome="fail", stage="after TC200", cal_ok=False),
    # U4: produced in the prior period; screened over the limit in this one
    row("d1", "el_image", "U4", "Q", "2025-12-01", outcome="pass", stage="initial"),
    row("d2", "power_measurement", "U4", "Q", "2025-12-01", stage="initial", pmax=420.0),
    row("d3", "xrf_analysis", "U4", "Q", "2026-01-05", outcome="fail", screening="OL", crm={"Al": 2.0}),
    # U5: its only inspection revoked: produced, not inspected
    row("e1", "el_image", "U5", "P", "2026-06-01", outcome="fail", stage="initial", status="revoked"),
    row("e2", "power_measurement", "U5", "P", "2026-06-01", stage="initial", pmax=405.0),
    # after the period
    row("f1", "el_image", "U6", "P", "2027-01-02", outcome="fail", stage="initial"),
]
FIGURES = {  # by hand, from the criteria
    "first_pass_yield": 0.333333,  # U1 of U1, U2, U5
    "non_conformities": 2,  # U2 (overridden to fail), U4 (XRF over the limit)
    "scrap_mass_kg": 50.0,  # P 20 kg + Q 30 kg
    "product_categories_assessed": 0.0,  # P produced, only Q assessed
    "substances_over_limit": 1,
    "critical_raw_materials": 0.0,  # Q: no unit produced in the period
    "recycled_content": None,
    "durability_pmax_loss": 5.0,
    "production_mw": 0.001215,  # 400 + 410 + 405 W
    "recalls": None,  # the registry was not read
    "calibration_coverage": 0.9,  # c3 of 10 measurements (reviews apart, e1 revoked)
    "data_completeness": 0.666667,  # U1, U2 of 3
    "anchoring_coverage": 0.923077,  # 12 of the period's 13 records in force (a4 is not anchored)
    "restatements": 0,
}


def write_pack(directory: Path, rows: list[dict[str, Any]], figures: dict[str, Any]) -> Path:
    directory.mkdir()
    head: dict[str, Any] = {
        "format": "qledger-reperformance/1",
        "period": {"start": "2026-01-01T00:00:00.000000Z", "end": "2027-01-01T00:00:00.000000Z", "label": "2026",
                   "start_unix": 1767225600, "end_unix": 1798761600},
        "sample": {"record_ids": []},
        "inputs": {"unit_mass_kg": {"P": 20.0, "Q": 30.0}},
        "recalls": None,
        "restatements": [],
        "figures": {k: {"value": v, "unit": "x", "records": ["a1", "b2"]} for k, v in figures.items()},
    }  # fmt: skip
    (directory / "pack.json").write_text(json.dumps(head, indent=1))
    (directory / "values.jsonl").write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
    return directory


def reperform(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CALCULATOR), str(directory)], capture_output=True, text=True)


@pytest.mark.parametrize("order", ["by id", "as listed", "reversed", "shuffled"])
def test_every_hand_computed_figure_in_any_line_order(tmp_path: Path, order: str) -> None:
    rows = list(ROWS)
    if order == "by id":
        rows.sort(key=lambda r: r["id"])
    elif order == "reversed":
        rows.reverse()
    elif order == "shuffled":
        random.Random(17).shuffle(rows)
    run = reperform(write_pack(tmp_path / "pack", rows, FIGURES))
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{len(FIGURES)} of {len(FIGURES)} figures agree" in run.stdout


def test_a_figure_that_does_not_follow_from_the_values_differs(tmp_path: Path) -> None:
    run = reperform(write_pack(tmp_path / "pack", ROWS, {**FIGURES, "non_conformities": 1}))
    assert run.returncode == 1
    assert "DIFFERS   non_conformities: report 1, re-performed 2" in run.stdout


def test_a_pack_that_is_not_json_is_unreadable(tmp_path: Path) -> None:
    pack = write_pack(tmp_path / "pack", ROWS, FIGURES)
    (pack / "pack.json").write_text((pack / "pack.json").read_text() + " {}")  # extra data after the object
    run = reperform(pack)
    assert run.returncode == 2 and "not a readable re-performance pack" in run.stderr
    shutil.rmtree(pack)
    pack = write_pack(tmp_path / "pack", ROWS, FIGURES)
    (pack / "values.jsonl").write_text((pack / "values.jsonl").read_text() + '{"id": \n')
    run = reperform(pack)
    assert run.returncode == 2 and "not a readable re-performance pack" in run.stderr
