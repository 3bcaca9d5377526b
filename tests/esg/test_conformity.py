"""Conformity statements on certificates (ISO/IEC 17025 7.8.6, ILAC-G8): a results table per record type with
quantity, value, unit, uncertainty, limit and verdict per line, the overall verdict and the decision rule;
nothing cut (a long table continues on the next page); every label in the eleven languages; the calibration
certificate named (issuer, number, validity); the signatures shown."""

from __future__ import annotations

import copy
import re
import subprocess
from pathlib import Path

from esg_reports import certificate_pdf, certificates, i18n
from ledger_service.config import Settings
from ledger_service.demo import LAB, Demo
from ledger_service.runtime import open_runtime


def _xrf(elements: list[dict[str, object]], screening: str | None = None) -> dict[str, object]:
    results: dict[str, object] = {"elements": elements}
    if screening:
        results["screening_class"] = screening
    return {"record_type": "xrf_analysis", "results": results}


def test_the_guarded_band_and_simple_acceptance() -> None:
    lines, overall, rule = certificates.conformity(
        _xrf([
            {"element": "Cd", "value": 80.0, "unit": "mg/kg", "uncertainty": 15.0},  # 95 <= 100: pass
            {"element": "Pb", "value": 990.0, "unit": "mg/kg", "uncertainty": 30.0},  # 960..1020: inconclusive
            {"element": "Hg", "value": 0.2, "unit": "mass%", "uncertainty": 0.05},  # 1500 mg/kg - 500 > 1000: fail
            {"element": "Sn", "value": 3.0, "unit": "mass%"},  # no limit
        ])
    )  # fmt: skip
    assert [(x.quantity, x.verdict) for x in lines] == [("Cd", "pass"), ("Pb", "inconclusive"), ("Hg", "fail"),
                                                       ("Sn", None)]  # fmt: skip
    assert overall == "fail" and rule == certificates.GUARDED
    assert lines[0].limit.startswith("max 100 mg/kg") and lines[2].limit.startswith("max 0.1 mass%")
    lines, overall, rule = certificates.conformity(_xrf([{"element": "Cd", "value": 80.0, "unit": "mg/kg"}]))
    assert (lines[0].verdict, overall, rule) == ("pass", "pass", certificates.SIMPLE)
    # The record's own screening class (IEC 62321-3-1) is the overall verdict, and is shown as a line.
    lines, overall, _ = certificates.conformity(_xrf([{"element": "Cd", "value": 80.0, "unit": "mg/kg"}], "X"))
    assert overall == "inconclusive" and lines[-1].value == "X"
    tensile = {"record_type": "tensile_test", "results": {"values": [
        {"quantity": "Rm", "value": 512.0, "unit": "MPa", "uncertainty": 6.0, "coverage_factor": 2}]}}  # fmt: skip
    lines, overall, rule = certificates.conformity(tensile)
    assert lines[0].uncertainty == "± 6 (k = 2)" and overall is None and rule == certificates.NO_SPEC


def test_every_label_is_translated_in_every_language() -> None:
    template = (certificates.HERE / "templates" / "certificate.html.j2").read_text()
    labels = set(re.findall(r'label\("([^"]+)"\)', template))
    labels |= {certificates.GUARDED, certificates.SIMPLE, certificates.NO_SPEC, "Pass", "Fail", "Inconclusive",
               "performed", "reviewed", "approved", "Number"}  # fmt: skip
    for lang in i18n.LANGUAGES[1:]:
        untranslated = sorted(m for m in labels if i18n.gettext(lang, m) == m)
        assert untranslated == [], (lang, untranslated)


def test_a_long_results_table_continues_on_the_next_page_and_names_the_calibration(tmp_path: Path) -> None:
    runtime = open_runtime(Settings(data_dir=tmp_path / "data"))
    try:
        demo = Demo(runtime.service, runtime.keys)
        demo.found_consortium()
        demo.calibrate_instruments()
        demo.enrol_signers()
        raw, files = demo.record("xrf_analysis", 1)
        raw["results"]["elements"] = [
            {"element": el, "value": float(i), "unit": "mg/kg", "uncertainty": 1.0}
            for i, el in enumerate(["Cd", "Pb", "Hg", "Cr", "Br"] + [f"X{c}" for c in "abcdefghijklmnopqrstuvwxyz"] * 2)
        ]
        raw["results"]["screening_class"] = "BL"
        record_id = runtime.service.submit(
            demo.sign(runtime.service.with_attachments(raw, files)), files, actor=LAB
        ).record_id
        runtime.service.anchor_pending()
        [cert] = certificates.issue(runtime.service, [record_id], ["en", "zh-Hans", "th"], "https://verify.lab.test",
                                    keys=runtime.keys)  # fmt: skip
        assert certificates.is_valid(runtime.service.verify_certificate(cert.pdf))
        with certificate_pdf.open_pdf(cert.pdf) as doc:
            assert len(doc.pages) >= 2
        text = subprocess.run(
            ["pdftotext", "-layout", "-", "-"], input=cert.pdf, capture_output=True, check=True
        ).stdout.decode()
        assert "Xz" in text and "BL" in text  # the last line and the screening class: nothing cut
        named = cert.embedded["credential"]["calibrationCertificate"]
        assert named["issuer"] == "CAL-NIM laboratory" and named["number"] in text
        assert named["recordId"] not in text.replace("\n", "")  # the certificate is named, not shown as a hash
        assert "performed" in text and "reviewed" in text and "Guarded band" in text
        assert "Overall verdict" in text and "Pass" in text
        stripped = copy.deepcopy(cert.embedded)
        assert stripped["record"]["signatures"][0]["signer"] in text
    finally:
        runtime.engine.dispose()
