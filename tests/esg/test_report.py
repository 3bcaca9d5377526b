"""ESG disclosures from the index: metrics on a dataset whose answers are known, every figure traced to its
records and anchors, the four frameworks from versioned mapping data, and the outputs: JSON, HTML/PDF with
charts, and Inline XBRL that Arelle validates offline (and refuses once a fact is broken)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from consortium.recall import open_recall
from esg_reports import mapping, render
from esg_reports.metrics import Period, Scope
from esg_reports.report import Entity, build
from ledger_service.config import Settings
from ledger_service.demo import LAB, REG, Demo
from ledger_service.digests import sm3
from ledger_service.records import RecordInvalid
from ledger_service.runtime import Runtime, open_runtime

ARELLE = str(Path(sys.executable).parent / "arelleCmdLine")
ENTITY = Entity("Demo Modules Co.", "529900QLEDGERDEMO042")


def el(
    demo: Demo, i: int, product: str, unit: str, stage: str, failing: bool, inactive: float | None = None
) -> tuple[dict[str, Any], list[Any]]:
    raw, files = demo.record("el_image", 9000 + i)
    raw["subject"].update(product=product, unambiguous_id=unit, lot=f"LOT-{product}")
    raw["results"]["test_stage"] = stage
    days = 10 if stage == "initial" else 2  # the first inspection comes first
    raw["measured_at"] = (demo.now - timedelta(days=days, minutes=i)).isoformat().replace("+00:00", "Z")
    raw["results"]["features"] = [{"cell": [0, 0], "kind": "crack_B"}] if failing else []
    if inactive is not None:
        raw["results"]["inactive_area_pct"] = inactive
    return raw, files


def xrf(demo: Demo, i: int, screening: str, cobalt: float) -> tuple[dict[str, Any], list[Any]]:
    raw, files = demo.record("xrf_analysis", 9500 + i)
    raw["subject"]["product"] = "DM-400"
    raw["results"]["screening_class"] = screening
    raw["results"]["elements"] = [
        {"element": "Pb", "value": 0.01, "unit": "mass%"},
        {"element": "Co", "value": cobalt, "unit": "mass%"},
    ]
    return raw, files


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Runtime, Demo]]:
    runtime = open_runtime(Settings(data_dir=tmp_path_factory.mktemp("esg")))
    demo = Demo(runtime.service, runtime.keys)
    demo.found_consortium()
    demo.calibrate_instruments()
    s = runtime.service
    items = [
        # DM-400: units A, B pass first time, C fails first then passes (yield 2/3); DM-500: D passes (1/1).
        el(demo, 1, "DM-400", "U-A", "initial", False),
        el(demo, 2, "DM-400", "U-B", "initial", False),
        el(demo, 3, "DM-400", "U-C", "initial", True),
        el(demo, 4, "DM-500", "U-D", "initial", False),
        el(demo, 5, "DM-400", "U-A", "after TC200", False, inactive=1.5),
        el(demo, 6, "DM-400", "U-B", "after TC200", False, inactive=2.5),
        xrf(demo, 1, "BL", 2.0),
        xrf(demo, 2, "X", 4.0),
        xrf(demo, 3, "OL", 6.0),
    ]
    for raw, files in items:
        s.submit(raw, files, actor=LAB)
    raw, files = demo.record("xrf_analysis", 9999)
    del raw["operator"]
    with pytest.raises(RecordInvalid):
        s.submit(raw, files, actor=LAB)  # refused: counts against data completeness
    s.anchor_pending()
    late, files = el(demo, 7, "DM-500", "U-D", "after TC200", True)  # accepted, not anchored yet
    s.submit(late, files, actor=LAB)
    open_recall(s, regulator=REG, kind="lot", scope="LOT-DM-400", reason="cracked cells")
    yield runtime, demo


def test_metrics_are_right_and_traced_to_anchors(world: tuple[Runtime, Demo]) -> None:
    runtime, demo = world
    year = Period.year(demo.now.year)
    with runtime.service.sessions.begin() as session:
        report = build(session, entity=ENTITY, period=year)
    m = report.metrics
    assert m["first_pass_yield"].value == pytest.approx(3 / 4, abs=1e-6)
    assert m["first_pass_yield"].breakdown["DM-400"] == {
        "units": 3,
        "passed": 2,
        "yield": pytest.approx(2 / 3, abs=1e-6),
    }
    assert m["non_conformities"].value == 3  # U-C initial, the XRF over limit, U-D after TC200
    assert m["substances_over_limit"].breakdown == {"below_limit": 1, "inconclusive": 1, "over_limit": 1}
    assert m["critical_material_content"].value == pytest.approx(4.0)
    assert m["durability_degradation"].value == pytest.approx(2.0)
    assert m["recalls"].value == 1 and m["recalls"].breakdown["units_recalled"] == 3  # U-A, U-B, U-C
    assert m["recycled_content"].value is None and m["recycled_content"].note
    assert m["calibration_coverage"].value == 1.0
    # 10 records of ours and 3 calibration certificates issued this year; one refusal for a missing operator.
    assert m["data_completeness"].value == pytest.approx(13 / 14, abs=1e-6)
    assert m["data_completeness"].breakdown["met"] is False
    anchoring = m["anchoring_coverage"]
    assert anchoring.breakdown == {"records": 13, "anchored": 12} and anchoring.evidence.unanchored == 1
    # Every figure names its records and the transactions that anchor them.
    fpy = m["first_pass_yield"].evidence
    assert len(fpy.record_ids) == 4 and sum(a["records"] for a in fpy.anchors) == 4
    assert all(a["tx_hash"].startswith("0x") and a["tier"] in "ABC" for a in fpy.anchors)
    assert len(fpy.digest) == 64

    with runtime.service.sessions.begin() as session:  # an organisational scope: one product only
        only = build(session, entity=ENTITY, period=year, scope=Scope(products=("DM-500",)), frameworks=["gri"])
    assert only.metrics["first_pass_yield"].value == 1.0 and "recalls" in only.metrics
    assert "critical_material_content" in only.metrics and only.metrics["critical_material_content"].value is None


def test_frameworks_come_from_versioned_mapping_data() -> None:
    m = mapping.load("2026.1")
    for key, spec in m.metrics.items():
        assert spec["concept"] and spec["type"] in mapping.XBRL_TYPES
        assert any(spec[f] for f in mapping.FRAMEWORKS), key
    codes = {p["code"] for spec in m.metrics.values() for p in spec["esrs"]}
    assert {"E2-5", "E5-4", "E5-5", "S4-4", "BP-2"} <= codes
    gri = {p["code"] for spec in m.metrics.values() for p in spec["gri"]}
    assert {"416-1", "416-2", "417-1", "301-1", "306-3", "308-1", "308-2", "2-27"} <= gri
    with pytest.raises(ValueError, match="known: 2026.1"):
        mapping.load("1999.1")
    schema = (Path(mapping.HERE) / "taxonomy" / m.taxonomy["schema"]).read_text()
    assert schema == mapping.taxonomy_schema(m)  # the committed taxonomy is the mapping's


def test_outputs_and_arelle_validates_the_inline_xbrl(world: tuple[Runtime, Demo], tmp_path: Path) -> None:
    runtime, demo = world
    with runtime.service.sessions.begin() as session:
        report = build(session, entity=ENTITY, period=Period.year(demo.now.year))
    paths = render.write(report, tmp_path)
    doc = json.loads(paths["json"].read_text())
    assert set(doc["frameworks"]) == {"esrs", "gri", "sasb", "tcfd"}
    tcfd = {d["code"] for d in doc["frameworks"]["tcfd"]["disclosures"]}
    assert {"Governance", "Risk Management", "Strategy (a)", "Strategy (c)"} <= tcfd
    fpy = doc["metrics"]["first_pass_yield"]["evidence"]
    assert fpy["records"] == 4
    listing = (tmp_path / fpy["record_ids_file"]).read_bytes()  # the full evidence list, checkable by its SM3
    assert sm3(listing).hex() == fpy["record_ids_sm3"] and sorted(listing.decode().split("\n")) == fpy["record_ids"]
    assert paths["pdf"].read_bytes()[:5] == b"%PDF-"
    html = paths["html"].read_text()
    assert html.count("<svg") == 3 and "E2-5" in html and "TR-AP-250a.1" in html

    ok = subprocess.run(
        [ARELLE, "--file", str(paths["ixbrl"]), "--validate", "--workOffline", "--validationExitCode"],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "error" not in (ok.stdout + ok.stderr).lower()
    xhtml = paths["ixbrl"].read_text()
    assert xhtml.count("<ix:nonFraction") >= 11 and 'scale="-2"' in xhtml

    for broken in (
        xhtml.replace(">0.75<", ">three quarters<", 1),  # not a number
        xhtml.replace("qlesrs:FirstPassYieldOfProducedUnits", "qlesrs:FirstPassYieldOfNothing", 1),  # no such concept
        xhtml.replace(
            'contextRef="period" unitRef="pure" decimals="0"', 'contextRef="nowhere" unitRef="pure" decimals="0"', 1
        ),
    ):
        assert broken != xhtml
        bad = tmp_path / "broken.xhtml"
        bad.write_text(broken)
        refused = subprocess.run(
            [ARELLE, "--file", str(bad), "--validate", "--workOffline", "--validationExitCode"],
            capture_output=True,
            text=True,
        )
        assert refused.returncode != 0, refused.stdout
