"""ESG disclosures from the index, on a small dataset whose every figure is computed by hand below: one test per
defect of the former figures (issue 17), then the mapping as data, the basis of preparation, and the outputs
(JSON, HTML/PDF, CSV, XLSX, and Inline XBRL that Arelle validates offline and refuses once a fact is broken).

The dataset (period P: the 300 days up to tomorrow; the prior period the 300 days before it):
  production units, DM-400 in LOT-A unless said otherwise, flash test Pmax in brackets
    U-A  EL initial pass                                 (400 W)
    U-B  EL initial pass                                 (410 W)
    U-C  EL initial fail (crack B), reworked: EL pass    (405 W)
    U-D  DM-500, LOT-B: AI fail, a person overrides: pass (420 W)
    U-E  EL initial pass                                 (no flash test)
    U-F  no inspection                                   (400 W)
    U-S  EL fail superseded by EL pass                   (415 W)
    U-R  EL fail, revoked (its only record)
    U-OLD EL pass in the prior period (old camera), EL fail in P
  qualification samples (IEC 61215), flash tests before and after the sequences
    Q-1  400 W; after TC200 392 W (2 %); after DH1000 378 W (5.5 %); EL after TC200 fails
    Q-2  410 W; after TC200 405.9 W (1 %); after DH1000 397.7 W (3 %)
    Q-3  after TC200 only (no initial flash: an exception), submitted after the anchoring run
  XRF (DM-400): MAT-1 BL (Pb 50 mg/kg, Al 2 %, Co 100 mg/kg); MAT-2 OL (Pb 1500 mg/kg, Al 4 %, Cu 0.5 %);
    MAT-2 again OL (Pb only)
  one submission refused (no operator); a recall of LOT-B.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from consortium.recall import open_recall
from esg_reports import mapping, render
from esg_reports.metrics import Inputs, Period, Scope
from esg_reports.report import Entity, Report, build, recalls_on_chain
from ledger_service.config import Settings
from ledger_service.demo import LAB, OLD_CAMERA, REG, Demo
from ledger_service.digests import sm3
from ledger_service.records import RecordInvalid
from ledger_service.runtime import Runtime, open_runtime
from ledger_service.station import power_results

ARELLE = str(Path(sys.executable).parent / "arelleCmdLine")
ENTITY = Entity("Demo Modules Co.", "529900QLEDGERDEMO042")
MASS = (("DM-400", 20.0), ("DM-500", 22.0))


@dataclass
class World:
    runtime: Runtime
    demo: Demo
    period: Period
    ids: dict[str, str]

    def build(self, **kw: Any) -> Report:
        service = self.runtime.service
        inputs = Inputs(recalls=recalls_on_chain(service.chain), product_mass_kg=MASS)
        with service.sessions.begin() as session:
            return build(session, entity=kw.pop("entity", ENTITY), period=self.period, inputs=inputs, **kw)


def when(demo: Demo, days: float) -> str:
    return (demo.now - timedelta(days=days)).isoformat().replace("+00:00", "Z")


def el(demo: Demo, n: int, unit: str, failing: bool, days: float, stage: str = "initial", **kw: Any) -> Any:
    raw, files = demo.record("el_image", 9000 + n, instrument=kw.get("instrument"))
    raw["subject"].update(unambiguous_id=unit, product=kw.get("product", "DM-400"), lot=kw.get("lot", "LOT-A"))
    raw["results"]["test_stage"] = stage
    raw["results"]["features"] = [{"cell": [0, 0], "kind": "crack_B"}] if failing else []
    raw["measured_at"] = when(demo, days)
    return raw, files


def flash(demo: Demo, n: int, unit: str, pmax: float, stage: str = "initial", **kw: Any) -> Any:
    raw, files = demo.record("power_measurement", 9300 + n)
    raw["subject"].update(unambiguous_id=unit, product=kw.get("product", "DM-400"), lot=kw.get("lot", "LOT-A"))
    raw["results"] = power_results(unit, stage, pmax)
    raw["measured_at"] = when(demo, kw.get("days", 4))
    return raw, files


def xrf(demo: Demo, n: int, unit: str, screening: str, elements: list[tuple[str, float, str]]) -> Any:
    raw, files = demo.record("xrf_analysis", 9500 + n)
    raw["subject"].update(unambiguous_id=unit, product="DM-400", lot="LOT-A")
    raw["results"]["screening_class"] = screening
    raw["results"]["elements"] = [{"element": e, "value": v, "unit": u} for e, v, u in elements]
    raw["measured_at"] = when(demo, 6)
    return raw, files


def ai(demo: Demo, unit: str, decision: str) -> Any:
    results = {"model_card_id": "card-1", "model_sm3": "a" * 64, "input_image_sm3": "b" * 64, "threshold": 0.5,
               "runtime": "onnxruntime 1.22 CPUExecutionProvider", "outputs": [], "decision": decision}  # fmt: skip
    raw = demo.station.envelope("ai_inspection", instrument="EL-CAM-01", measured_at=demo.now - timedelta(days=8),
                                operator="op-alice", results=results, report_id=f"R-AI-{unit}",
                                subject={"description": "module", "unambiguous_id": unit, "product": "DM-500",
                                         "lot": "LOT-B"})  # fmt: skip
    return raw, []


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    runtime = open_runtime(Settings(data_dir=tmp_path_factory.mktemp("esg")))
    demo = Demo(runtime.service, runtime.keys)
    demo.found_consortium()
    demo.calibrate_instruments()
    s = runtime.service
    s.tiers["el_image"] = "A"  # supersede takes a record anchored by its own digest (tier A)
    ids: dict[str, str] = {}

    def put(name: str, item: Any) -> str:
        ids[name] = s.submit(item[0], item[1], actor=LAB).record_id
        return ids[name]

    put("A-el", el(demo, 1, "U-A", False, 10))
    put("B-el", el(demo, 2, "U-B", False, 10))
    put("C-el", el(demo, 3, "U-C", True, 10))
    put("C-el2", el(demo, 4, "U-C", False, 5))
    put("E-el", el(demo, 5, "U-E", False, 9))
    put("S-el", el(demo, 6, "U-S", True, 9))
    put("S-el2", el(demo, 7, "U-S", False, 9))
    put("R-el", el(demo, 8, "U-R", True, 9))
    put("OLD-el", el(demo, 9, "U-OLD", False, 390, instrument=OLD_CAMERA))
    put("OLD-el2", el(demo, 10, "U-OLD", True, 3))
    put("Q1-el", el(demo, 11, "Q-1", False, 12, lot="LOT-Q"))
    put("Q1-el2", el(demo, 12, "Q-1", True, 2, stage="after TC200", lot="LOT-Q"))
    put("D-ai", ai(demo, "U-D", "fail"))
    for name, unit, pmax, kw in (("A", "U-A", 400.0, {}), ("B", "U-B", 410.0, {}), ("C", "U-C", 405.0, {}),
                                 ("D", "U-D", 420.0, {"product": "DM-500", "lot": "LOT-B"}), ("F", "U-F", 400.0, {}),
                                 ("S", "U-S", 415.0, {})):  # fmt: skip
        put(f"{name}-flash", flash(demo, len(ids), unit, pmax, **kw))
    for unit, p0, tc, dh in (("Q-1", 400.0, 392.0, 378.0), ("Q-2", 410.0, 405.9, 397.7)):
        put(f"{unit}-p0", flash(demo, len(ids), unit, p0, lot="LOT-Q", days=12))
        put(f"{unit}-tc", flash(demo, len(ids), unit, tc, "after TC200", lot="LOT-Q", days=3))
        put(f"{unit}-dh", flash(demo, len(ids), unit, dh, "after DH1000", lot="LOT-Q", days=2))
    put("X1", xrf(demo, 1, "MAT-1", "BL", [("Pb", 50, "mg/kg"), ("Al", 2.0, "mass%"), ("Co", 100, "mg/kg")]))
    put("X2", xrf(demo, 2, "MAT-2", "OL", [("Pb", 1500, "mg/kg"), ("Al", 4.0, "mass%"), ("Cu", 0.5, "mass%")]))
    put("X3", xrf(demo, 3, "MAT-2", "OL", [("Pb", 1400, "mg/kg")]))
    raw, files = demo.record("xrf_analysis", 9999)
    del raw["operator"]
    with pytest.raises(RecordInvalid):
        s.submit(raw, files, actor=LAB)  # refused: an exception of data completeness
    s.anchor_pending()
    from inference_bridge import pipeline

    reason = "a finger interruption, not a crack"
    envelope = demo.inspection_envelope
    ids["D-review"] = pipeline.review(
        s, ids["D-ai"], verdict="override", decision="pass", reason=reason, envelope=envelope, actor=LAB
    )
    s.anchor_pending()
    s.supersede(ids["S-el"], ids["S-el2"], member=LAB, reason="wrong image attached")
    s.revoke(ids["R-el"], member=LAB, reason="entered against the wrong unit")
    put("Q3-tc", flash(demo, len(ids), "Q-3", 399.0, "after TC200", lot="LOT-Q", days=1))  # not anchored
    open_recall(s, regulator=REG, kind="lot", scope="LOT-B", reason="junction box")
    period = Period(demo.now - timedelta(days=300), demo.now + timedelta(days=1), "P")
    yield World(runtime, demo, period, ids)


@pytest.fixture(scope="module")
def report(world: World) -> Report:
    return world.build()


def test_revoked_and_superseded_records_are_not_counted(world: World, report: Report) -> None:
    used = {r for m in report.metrics.values() for r in m.evidence.record_ids if m.key != "restatements"}
    assert world.ids["R-el"] not in used and world.ids["S-el"] not in used
    assert world.ids["S-el2"] in report.metrics["first_pass_yield"].evidence.record_ids
    restated = report.metrics["restatements"]
    assert restated.value == 2 and restated.breakdown == {"revoked": 1, "superseded": 1}
    row = next(r for r in restated.table if r["change"] == "superseded")
    assert row["record_id"] == world.ids["S-el"] and row["replacement"] == world.ids["S-el2"]


def test_first_pass_yield_is_first_inspection_ever_over_units_produced(report: Report) -> None:
    fpy = report.metrics["first_pass_yield"]
    # Produced in P: A B C D E F S (U-OLD was produced in the prior period; U-R has no record in force; Q-1 is a
    # qualification sample). Passed first time: A B D (a person's pass) E S = 5 of 7; U-F was never inspected.
    assert fpy.breakdown == {"units_produced": 7, "passed_first_time": 5}
    assert fpy.value == pytest.approx(5 / 7, abs=1e-6)
    assert {r["product"]: (r["units_produced"], r["passed_first_time"], r["not_inspected"]) for r in fpy.table} == {
        "DM-400": (6, 4, 1),
        "DM-500": (1, 1, 0),
    }
    assert [e["unit"] for e in fpy.exceptions] == ["U-F"]
    assert report.comparatives["first_pass_yield"].value == 1.0  # U-OLD passed in the prior period


def test_non_conformities_count_production_units_without_overridden_ai_fails(world: World, report: Report) -> None:
    nc = report.metrics["non_conformities"]
    # U-C (EL), U-OLD (EL in P), MAT-2 (two XRF OL records) = 3 units; not Q-1 (qualification sample), not U-D
    # (a person overrode the AI fail), not U-R (revoked) nor U-S's superseded image.
    assert nc.value == 3 and nc.breakdown["failing_records"] == 4
    assert world.ids["Q1-el2"] not in nc.evidence.record_ids
    assert [e["record_id"] for e in nc.exceptions] == [world.ids["D-ai"]]


def test_durability_is_the_pmax_loss_after_each_iec_61215_sequence(world: World, report: Report) -> None:
    d = report.metrics["durability_pmax_loss"]
    rows = {r["sequence"]: r for r in d.table}
    assert rows["after TC200"]["mean_pmax_loss_pct"] == pytest.approx(1.5)  # (2 + 1) / 2
    assert rows["after DH1000"]["mean_pmax_loss_pct"] == pytest.approx(4.25)  # (5.5 + 3) / 2
    assert rows["after DH1000"]["modules_over_5_pct"] == 1 and rows["after TC200"]["modules"] == 2
    assert d.value == pytest.approx(4.25) and d.unit == "percent"
    assert [e["unit"] for e in d.exceptions] == ["Q-3"]  # flashed after TC200 with no initial flash test


def test_production_is_stated_in_mw_from_flash_tests(report: Report) -> None:
    mw = report.metrics["production_mw"]
    assert mw.value == pytest.approx((400 + 410 + 405 + 420 + 400 + 415) / 1e6)  # U-E has no flash test
    assert mw.breakdown == {"units_flash_tested": 6, "units_produced": 7}
    assert [e["unit"] for e in mw.exceptions] == ["U-E"]


def test_product_safety_is_categories_assessed_not_the_substance_failures(report: Report) -> None:
    assert "product_safety_failures" not in report.metrics
    share = report.metrics["product_categories_assessed"]
    assert share.value == 0.5 and share.breakdown == {"categories_produced": 2, "categories_assessed": 1}
    assert len(share.evidence.record_ids) == 3  # the three XRF screenings of DM-400; DM-500 was never assessed
    substances = report.metrics["substances_over_limit"]
    assert substances.value == 1 and substances.breakdown["over_limit"] == 2  # MAT-2, screened twice


def test_data_completeness_is_units_with_their_required_records(report: Report) -> None:
    c = report.metrics["data_completeness"]
    assert c.value == pytest.approx(5 / 7, abs=1e-6)  # U-E lacks a flash test, U-F an inspection
    assert c.breakdown == {"units_produced": 7, "units_complete": 5, "refused_submissions": 1}
    assert {e["kind"] for e in c.exceptions} == {"production record missing", "submissions refused at ingest"}


def test_recalls_come_from_the_chain_and_respect_the_product_scope(world: World, report: Report) -> None:
    r = report.metrics["recalls"]
    assert r.value == 1 and r.breakdown == {"units_recalled": 1, "units_retrieved": None}  # U-D, LOT-B
    assert r.table[0]["scope"] == "lot LOT-B" and r.table[0]["units_retrieved"] is None
    only = world.build(scope=Scope(products=("DM-400",)))
    assert only.metrics["recalls"].value == 0  # the recall covers no DM-400 unit
    with world.runtime.service.sessions.begin() as session:
        unread = build(session, entity=ENTITY, period=world.period, comparatives=False)
    assert unread.metrics["recalls"].value is None and "chain" in unread.metrics["recalls"].note


def test_critical_raw_materials_follow_annex_ii_and_are_mass_weighted(report: Report) -> None:
    crm = report.metrics["critical_raw_materials"]
    rows = {r["element"]: r for r in crm.table}
    assert set(rows) == {"Al", "Co", "Cu"}  # aluminium is on Annex II; lead is not a CRM
    assert rows["Al"]["mean_mass_pct"] == pytest.approx(3.0) and rows["Co"]["mean_mass_pct"] == pytest.approx(0.01)
    # 6 DM-400 units of 20 kg: Al 3 % -> 3.6 kg, Co 0.01 % -> 0.012 kg, Cu 0.5 % -> 0.6 kg
    assert crm.value == pytest.approx(4.212) and crm.unit == "kg"
    assert report.metrics["scrap_mass_kg"].value == pytest.approx(3 * 20.0)


def test_anchoring_and_calibration_exceptions(world: World, report: Report) -> None:
    a = report.metrics["anchoring_coverage"]
    assert [e["record_id"] for e in a.exceptions] == [world.ids["Q3-tc"]]
    assert a.breakdown["records"] - a.breakdown["anchored"] == 1
    assert report.metrics["calibration_coverage"].value == 1.0
    fpy = report.metrics["first_pass_yield"].evidence
    assert all(a["tx_hash"].startswith("0x") and a["tier"] in "ABC" for a in fpy.anchors) and len(fpy.digest) == 64


def test_mapping_is_data_with_roles_editions_and_industries() -> None:
    m = mapping.load()
    assert m.version == "2026.3" and len(m.digest) == 64
    assert mapping.load("2026.2").digest != m.digest  # an earlier mapping stays as it was, for its reports
    for key, spec in m.metrics.items():
        assert set(spec["criteria"]) == {"numerator", "denominator", "unit_of_count", "includes", "excludes",
                                         "standard"}, key  # fmt: skip
        assert spec["homes"] and all(h["role"] in mapping.ROLES for h in spec["homes"]), key
    homes = [(k, h["framework"], h["code"]) for k, s in m.metrics.items() for h in s["homes"]]
    wrong = {("first_pass_yield", "gri", "416-1"), ("calibration_coverage", "gri", "2-5"),
             ("data_completeness", "gri", "2-4"), ("data_completeness", "gri", "417-1"),
             ("critical_raw_materials", "sasb", "RR-ST-440a.1")}  # fmt: skip
    assert not wrong & set(homes)
    assert not any(f == "tcfd" or c.startswith("TR-AP") for _, f, c in homes)
    assert not any("human rights" in h["datapoint"] for s in m.metrics.values() for h in s["homes"])
    assert ("product_categories_assessed", "gri", "416-1") in homes and ("restatements", "gri", "2-4") in homes
    assert ("production_mw", "sasb", "RR-ST-000.A") in homes and (
        "critical_raw_materials",
        "sasb",
        "RR-ST-440a.2",
    ) in homes
    solar = {h["code"] for h in m.homes("sasb", edition="set1", industry="RR-ST")}
    electrical = {h["code"] for h in m.homes("sasb", edition="set1", industry="RT-EE")}
    assert "RR-ST-000.A" in solar and "RT-EE-250a.1" not in solar and "RT-EE-250a.1" in electrical
    assert m.esrs_edition(2026) == "set1" and m.esrs_edition(2027) == "revised"
    assert m.homes("esrs", edition="revised", industry="RR-ST") == []
    with pytest.raises(ValueError, match="known: 2026.2"):
        mapping.load("1999.1")
    schema = (Path(mapping.HERE) / "taxonomy" / m.taxonomy["schema"]).read_text()
    assert schema == mapping.taxonomy_schema(m)  # the committed taxonomy is the mapping's


def test_the_sasb_industry_is_the_entity_s(world: World) -> None:
    electrical = world.build(entity=Entity("Demo Modules Co.", "529900QLEDGERDEMO042", "RT-EE"), frameworks=["sasb"])
    assert {h["code"] for h in electrical.disclosures("sasb")} >= {"RT-EE-250a.1", "RT-EE-440a.1"}
    assert not any(h["code"].startswith("RR-ST") for h in electrical.disclosures("sasb"))
    with pytest.raises(ValueError, match="SASB industry"):
        world.build(entity=Entity("X", "529900QLEDGERDEMO042", "TR-AP"))


def test_basis_of_preparation_and_exports(world: World, report: Report, tmp_path: Path) -> None:
    paths = render.write(report, tmp_path)
    doc = json.loads(paths["json"].read_text())
    basis = doc["basis_of_preparation"]
    assert basis["period"]["start"] == world.period.start.date().isoformat()
    assert "measured_at" in basis["cut_off"] and basis["comparatives"]["period"] == "before P"
    assert basis["not_reported"] == {"recycled_content": "no anchored record carries recycled content"}
    assert basis["non_ledger_inputs"] == {"unit_mass_kg": {"DM-400": 20.0, "DM-500": 22.0}}
    assert set(basis["sign_off"]) == {"statement", "name", "role", "date", "signature"}
    assert doc["mapping_sm3"] == report.mapping.digest and doc["code_version"]
    assert doc["metrics"]["first_pass_yield"]["prior_value"] == 1.0
    kinds = {(e["metric"], e["kind"]) for e in doc["exceptions"]}
    assert ("anchoring_coverage", "not anchored") in kinds and (
        "durability_pmax_loss",
        "no initial flash test",
    ) in kinds
    fpy = doc["metrics"]["first_pass_yield"]["evidence"]
    listing = (tmp_path / fpy["record_ids_file"]).read_bytes()  # the full evidence list, checkable by its SM3
    assert sm3(listing).hex() == fpy["record_ids_sm3"] and sorted(listing.decode().split("\n")) == fpy["record_ids"]

    rows = list(csv.DictReader(io.StringIO(paths["csv"].read_text())))
    fpy_rows = [r for r in rows if r["metric"] == "first_pass_yield"]
    assert {r["record_id"] for r in fpy_rows} == set(report.metrics["first_pass_yield"].evidence.record_ids)
    assert all(r["anchor_tx"].startswith("0x") for r in fpy_rows)
    from openpyxl import load_workbook

    book = load_workbook(paths["xlsx"])
    assert book.sheetnames == ["metrics", "records", "exceptions"]
    assert book["records"].max_row == len(rows) + 1 and book["exceptions"].max_row == len(doc["exceptions"]) + 1

    html = paths["html"].read_text()
    assert "Basis of preparation" in html and "Exceptions register" in html and "Management sign-off" in html
    for code in ("E2-5", "417-1", "308-1", "308-2"):  # stated, with the reason, not silently left out
        (row,) = [n for n in basis["not_evidenced"] if n["code"] == code]
        assert row["reason"] and f"{row['code']}, {row['datapoint']}: not evidenced; {row['reason']}" in unescape(html)
    assert "supports the narrative" in html and "is the datapoint" in html
    body = html.split("Annex: evidence")[0]
    assert not any(a["tx_hash"] in body for m in report.metrics.values() for a in m.evidence.anchors)  # annex only
    assert "{&#34;" not in body and '{"' not in body  # breakdowns are tables, not JSON
    assert paths["pdf"].read_bytes()[:5] == b"%PDF-"


def test_arelle_validates_the_inline_xbrl_and_refuses_broken_facts(report: Report, tmp_path: Path) -> None:
    paths = render.write(report, tmp_path, ["ixbrl"])
    arelle = [ARELLE, "--validate", "--workOffline", "--validationExitCode"]
    ok = subprocess.run([*arelle, "--file", str(paths["ixbrl"])], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "error" not in (ok.stdout + ok.stderr).lower()
    xhtml = paths["ixbrl"].read_text()
    assert "not fileable" in xhtml and "mirror" not in xhtml and 'decimals="INF"' not in xhtml
    assert 'contextRef="prior"' in xhtml and 'unitRef="MW"' in xhtml and 'scale="-2"' in xhtml
    for broken in (
        xhtml.replace(">0.714286<", ">five sevenths<", 1),  # not a number
        xhtml.replace("qlq:FirstPassYieldOfUnitsProduced", "qlq:FirstPassYieldOfNothing", 1),  # no such concept
        xhtml.replace(
            'contextRef="period" unitRef="pure" decimals="0"', 'contextRef="nowhere" unitRef="pure" decimals="0"', 1
        ),
    ):
        assert broken != xhtml
        bad = tmp_path / "broken.xhtml"
        bad.write_text(broken)
        refused = subprocess.run([*arelle, "--file", str(bad)], capture_output=True, text=True)
        assert refused.returncode != 0, refused.stdout


def test_a_period_without_production_reports_nothing_and_says_why(world: World) -> None:
    old = Period.year(2001)
    with world.runtime.service.sessions.begin() as session:
        empty = build(session, entity=ENTITY, period=old, inputs=Inputs(recalls=()), comparatives=False)
    assert empty.metrics["first_pass_yield"].value is None
    assert empty.metrics["production_mw"].value is None and empty.metrics["production_mw"].note
    assert empty.metrics["durability_pmax_loss"].note


def test_the_reference_calculator_re_performs_every_figure_from_the_pack(world: World, tmp_path: Path) -> None:
    from esg_reports import pack

    report = world.build()
    service = world.runtime.service
    anchor = pack.anchor_report(service, report, member=LAB)
    assert service.root_anchored(pack.merkle_root(anchor.digest), LAB)  # the report's digest is on chain
    with pytest.raises(LookupError, match="does not exist yet"):
        pack.sample_seed(service.chain, anchor, after=10**6)
    service.anchor_digests(member=LAB, digests=[b"\x07" * 32], kind="next-block")  # a later block exists
    seed = pack.sample_seed(service.chain, anchor)
    assert seed[0] == anchor.block + 1
    out = pack.write_pack(service, report, tmp_path / "pack", anchor=anchor, seed=seed)
    head = json.loads((out / "pack.json").read_text())
    sample = head["sample"]["record_ids"]
    assert len(sample) == pack.SAMPLE_SIZE and sample == pack.draw_sample(report, seed[1])  # anyone draws the same
    assert head["report_sm3"] == anchor.digest and head["mapping_sm3"] == report.mapping.digest
    run = subprocess.run([sys.executable, str(out / "reperform.py"), str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{len(report.metrics)} of {len(report.metrics)} figures agree" in run.stdout and "0 fault(s)" in run.stdout

    values = (out / "values.jsonl").read_text()  # a value changed in the pack: the figure no longer agrees
    lines = [json.loads(x) for x in values.splitlines()]
    for row in lines:
        if row["unit"] == "U-B" and row["type"] == "el_image":
            row["outcome"] = "fail"
    (out / "values.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    run = subprocess.run([sys.executable, str(out / "reperform.py"), str(out)], capture_output=True, text=True)
    assert run.returncode == 1 and "DIFFERS   first_pass_yield" in run.stdout
    if world.ids["B-el"] in sample:
        assert "outcome is 'fail' in values.jsonl" in run.stdout

    # A later revocation restates the anchored report: the diff names the figures and the record.
    world.runtime.service.revoke(world.ids["A-el"], member=LAB, reason="camera mislabelled")
    anchored = json.loads(pack.figures_document(report))
    diff = {d["metric"]: d for d in pack.restatement_diff(anchored, world.build())}
    assert diff["first_pass_yield"]["was"] == pytest.approx(5 / 7, abs=1e-6)
    assert diff["first_pass_yield"]["now"] == pytest.approx(4 / 7, abs=1e-6)  # U-A: now never inspected
    assert world.ids["A-el"] in diff["restatements"]["restated_records"]


def test_inline_xbrl_against_an_installed_taxonomy_package_validates_in_arelle(
    world: World, report: Report, tmp_path: Path
) -> None:
    import hashlib

    from esg_reports import packages
    from tests.esg import esrs_package

    zipped = esrs_package.build(tmp_path / "esrs.zip")
    sha = hashlib.sha256(zipped.read_bytes()).hexdigest()
    home = tmp_path / "taxonomies"
    with pytest.raises(packages.PackageInvalid, match="SHA-256"):
        packages.install(zipped, "0" * 64, home)
    (tmp_path / "not-a-package.zip").write_bytes(b"PK\x05\x06" + bytes(18))
    with pytest.raises(packages.PackageInvalid):
        packages.install(tmp_path / "not-a-package.zip", hashlib.sha256(b"PK\x05\x06" + bytes(18)).hexdigest(), home)
    package = packages.install(zipped, sha, home)
    assert [p.sha256 for p in packages.installed(home)] == [sha]
    assert package.entry_point == f"{esrs_package.BASE}/esrs_all.xsd"

    paths = render.write(report, tmp_path / "out", ["ixbrl"], package=package)
    xhtml = paths["ixbrl"].read_text()
    assert 'name="esrs:PercentageOfSecondaryReusedOrRecycled' in xhtml  # resolved from its label, nil: not reported
    assert 'name="qlx:FirstPassYieldOfUnitsProduced"' in xhtml and sha in xhtml and "not fileable" not in xhtml
    linkbase = next((tmp_path / "out").glob("*_def.xml")).read_text()
    assert linkbase.count("wider-narrower") >= 9 and "esrs_WasteGenerated" in linkbase  # scrap mass, anchored
    arelle = [ARELLE, "--packages", str(home / f"{sha}.zip"), "--validate", "--workOffline", "--validationExitCode"]
    ok = subprocess.run([*arelle, "--file", str(paths["ixbrl"])], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "error" not in (ok.stdout + ok.stderr).lower()
    # The product axis: an explicit dimension, one domain member per product category, first-pass yield and MW
    # produced tagged per category (DM-400: U-A, U-B, U-E, U-S of six units pass first time; DM-500: U-D).
    assert 'dimension="qlx:ProductAxis">qlx:ProductDM400Member<' in xhtml and "ProductDM500Member" in xhtml
    assert 'xbrldt:closed="true"' in linkbase and "dimension-default" in linkbase
    for context, shown in (("period-product-0", "0.666667"), ("period-product-1", "1.0")):
        fact = f'id="f-first_pass_yield-{context}" name="qlx:FirstPassYieldOfUnitsProduced" contextRef="{context}"'
        assert fact in xhtml and xhtml.split(fact, 1)[1].split(">", 1)[1].startswith(f"{shown}<")
    assert 'id="f-production_mw-period-product-1"' in xhtml
    off_axis = xhtml.replace(">qlx:ProductDM400Member<", ">qlx:ProductAxis<", 1)  # not a member of its domain
    (tmp_path / "out" / "off-axis.xhtml").write_text(off_axis)
    refused = subprocess.run(
        [*arelle, "--file", str(tmp_path / "out" / "off-axis.xhtml")], capture_output=True, text=True
    )
    assert refused.returncode != 0 and "PrimaryItemDimensionallyInvalidError" in refused.stdout + refused.stderr
    broken = xhtml.replace('name="qlx:FirstPassYieldOfUnitsProduced"', 'name="esrs:FirstPassYieldOfUnitsProduced"', 1)
    (tmp_path / "out" / "broken.xhtml").write_text(broken)
    refused = subprocess.run(
        [*arelle, "--file", str(tmp_path / "out" / "broken.xhtml")], capture_output=True, text=True
    )
    assert refused.returncode != 0, refused.stdout  # not an ESRS concept: Arelle says so

    feed = json.loads(paths["xbrl-json"].read_text())
    assert feed["documentInfo"]["documentType"] == "https://xbrl.org/2021/xbrl-json"
    dm400 = feed["facts"]["f-first_pass_yield-period-product-0"]
    assert dm400["value"] == "0.666667" and dm400["dimensions"]["qlx:ProductAxis"] == "qlx:ProductDM400Member"
    fpy = feed["facts"]["f-first_pass_yield-period"]
    assert fpy["dimensions"]["concept"] == "qlx:FirstPassYieldOfUnitsProduced" and fpy["decimals"] == 6


def test_qledger_taxonomy_install_checks_the_sha256(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    from typer.testing import CliRunner

    from ledger_service.cli import app
    from tests.esg import esrs_package

    monkeypatch.setenv("QLEDGER_DATA_DIR", str(tmp_path / "data"))
    zipped = esrs_package.build(tmp_path / "esrs.zip")
    sha = hashlib.sha256(zipped.read_bytes()).hexdigest()
    runner = CliRunner()
    wrong = runner.invoke(app, ["taxonomy", "install", str(zipped), "--sha256", "ab" * 32])
    assert wrong.exit_code == 1 and "esrs.zip: SHA-256 is" in wrong.output and len(wrong.output.splitlines()) == 1
    missing = runner.invoke(app, ["taxonomy", "install", str(tmp_path / "nothing.zip"), "--sha256", sha])
    assert missing.exit_code == 1 and "nothing.zip" in missing.output
    ok = runner.invoke(app, ["taxonomy", "install", str(zipped), "--sha256", sha])
    assert ok.exit_code == 0, ok.output
    listed = runner.invoke(app, ["taxonomy", "list"])
    assert sha in listed.output and "test subset" in listed.output
    assert (tmp_path / "data" / "taxonomies" / f"{sha}.zip").read_bytes() == zipped.read_bytes()


def test_the_customer_request_pack_is_signed_anchored_and_checkable(world: World, report: Report) -> None:
    from esg_reports import customer, pack
    from ledger_service.canonical import canonical_json
    from ledger_service.demo import MFR

    service = world.runtime.service
    content = customer.document(report, customer="Solar Farms GmbH")
    points = {(p["code"], p["metric"]): p for p in content["datapoints"]}
    assert points[("B7", "critical_raw_materials")]["value"] == pytest.approx(4.212)
    assert points[("B7", "scrap_mass_kg")]["value"] == pytest.approx(60.0)
    assert points[("B7", "recycled_content")]["not_reported_because"]
    assert content["report_sm3"] == sm3(pack.figures_document(report)).hex()
    signed = customer.sign_and_anchor(service, world.runtime.keys.sm2(MFR), MFR, content)
    on_chain = lambda root: service.root_anchored(root, MFR)  # noqa: E731
    assert customer.verify(json.loads(customer.to_json(signed)), on_chain) == []
    forged = json.loads(customer.to_json(signed))
    forged["pack"]["datapoints"][2]["value"] = 1.0  # a smaller waste figure
    assert "the pack's SM3 is not the one signed" in customer.verify(forged, on_chain)
    forged["sm3"] = sm3(canonical_json(forged["pack"])).hex()
    faults = customer.verify(forged, on_chain)
    assert (
        "the signature does not verify under the stated key" in faults and "the pack is not anchored on chain" in faults
    )
