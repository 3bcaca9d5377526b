"""Attack on certificate verification (issue 13, properties 3 and 5): a certificate states what its record
says, so it holds only while the record does.

The certificate checks covered the PDF, the credential, its anchor and the record's status (not revoked, not
superseded), but not the record's own validity: after the calibration lab withdrew (revoked) the calibration
certificate the measurement cites, `qledger verify record` said CALIBRATION_REVOKED while the conformity
certificate of the same record still verified VALID (CLI, API and verify page alike). Failed on main.

And what a viewer shows beside the page: a page label ("ALL PASS 1" in the viewer's page box) or a forged
document title shown in its title bar (/ViewerPreferences /DisplayDocTitle) left the page digest unchanged and
verified VALID on main."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator

import pikepdf
import pytest
from pikepdf import Array, Dictionary, Name, String

from esg_reports import certificates, verify_page
from ledger_service.config import Settings
from ledger_service.demo import CAL, LAB, Demo
from ledger_service.runtime import Runtime, open_runtime
from ledger_service.verification import CertificateTarget, Fragment, Status, passes


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Runtime, dict[str, certificates.Issued]]]:
    runtime = open_runtime(Settings(data_dir=tmp_path_factory.mktemp("certified")))
    demo = Demo(runtime.service, runtime.keys)
    demo.found_consortium()
    demo.calibrate_instruments()
    service = runtime.service
    ids = {k: service.submit(*demo.record(k, 60 + i), actor=LAB).record_id
           for i, k in enumerate(("tensile_test", "el_image", "xrf_analysis"))}  # fmt: skip
    service.pin_pending()
    service.anchor_pending()
    issued = certificates.issue(service, list(ids.values()), ["en"], "https://verify.lab.test", keys=runtime.keys)
    yield runtime, dict(zip(ids, issued, strict=True))
    runtime.engine.dispose()


def _verdict(runtime: Runtime, pdf: bytes) -> tuple[bool, dict[str, Fragment]]:
    fragments = runtime.service.verify_certificate(pdf)
    return passes(CertificateTarget(pdf), fragments), {f.name: f for f in fragments}


def _edited(pdf: bytes, edit: Callable[[pikepdf.Pdf], None], **save: object) -> bytes:
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        edit(doc)
        out = io.BytesIO()
        doc.save(out, **save)  # type: ignore[arg-type]
        return out.getvalue()


def _page_label(doc: pikepdf.Pdf) -> None:
    doc.Root.PageLabels = Dictionary(Nums=Array([0, Dictionary(P=String("ALL PASS "))]))


def _title_bar(doc: pikepdf.Pdf) -> None:
    doc.docinfo["/Title"] = "Certificate of conformity: every result PASS"
    doc.Root.ViewerPreferences = Dictionary(DisplayDocTitle=True)


def _screen_reader(doc: pikepdf.Pdf) -> None:
    element = Dictionary(Type=Name.StructElem, S=Name.P, Pg=doc.pages[0].obj, ActualText=String("All results PASS"))
    doc.Root.StructTreeRoot = doc.make_indirect(Dictionary(Type=Name.StructTreeRoot, K=Array([element])))
    doc.Root.MarkInfo = Dictionary(Marked=True)


@pytest.mark.parametrize("edit", [_page_label, _title_bar, _screen_reader], ids=lambda f: f.__name__.strip("_"))
def test_what_a_viewer_shows_beside_the_page_is_covered_by_the_page_digest(
    world: tuple[Runtime, dict[str, certificates.Issued]], edit: Callable[[pikepdf.Pdf], None]
) -> None:
    runtime, issued = world
    ok, fragments = _verdict(runtime, _edited(issued["xrf_analysis"].pdf, edit))
    assert not ok
    page = fragments["PageContent"]
    assert (page.status, (page.reason or {}).get("code")) == (Status.INVALID, "PAGE_DIGEST_MISMATCH")


def test_a_certificate_resaved_with_object_streams_still_verifies(
    world: tuple[Runtime, dict[str, certificates.Issued]],
) -> None:
    runtime, issued = world
    resaved = _edited(issued["el_image"].pdf, lambda doc: None, object_stream_mode=pikepdf.ObjectStreamMode.generate)
    assert resaved != issued["el_image"].pdf
    assert _verdict(runtime, resaved)[0]


def test_certificates_of_every_tier_verify_with_their_record_checks(
    world: tuple[Runtime, dict[str, certificates.Issued]],
) -> None:
    runtime, issued = world
    for kind, cert in issued.items():
        ok, fragments = _verdict(runtime, cert.pdf)
        assert ok, (kind, [f.to_json() for f in fragments.values() if f.status is not Status.VALID])
        assert fragments["ChainAnchor"].status is Status.VALID  # the record's own anchor, tier A, B or C
        assert fragments["CalibrationValidity"].status is Status.VALID
        assert fragments["IssuerStanding"].status is Status.VALID


def test_a_certificate_fails_once_its_records_calibration_is_withdrawn(
    world: tuple[Runtime, dict[str, certificates.Issued]],
) -> None:
    runtime, issued = world
    service, cert = runtime.service, issued["tensile_test"]
    record = service.evidence(cert.record_id).record
    calibration = record["instrument"]["calibration"]["certificate_record_id"]
    assert _verdict(runtime, cert.pdf)[0]
    service.revoke(calibration, member=CAL, reason="reference standard out of tolerance")
    record_fragment = {f.name: f for f in service.verify(cert.record_id)}["CalibrationValidity"]
    assert (record_fragment.reason or {}).get("code") == "CALIBRATION_REVOKED"
    ok, fragments = _verdict(runtime, cert.pdf)
    assert not ok
    fragment = fragments["CalibrationValidity"]
    assert (fragment.status, (fragment.reason or {}).get("code")) == (Status.INVALID, "CALIBRATION_REVOKED")


def test_the_status_page_does_not_say_valid_once_the_calibration_is_withdrawn(
    world: tuple[Runtime, dict[str, certificates.Issued]],
) -> None:
    from esg_reports import certificate_status

    runtime, issued = world
    service, cert = runtime.service, issued["tensile_test"]
    calibration = service.evidence(cert.record_id).record["instrument"]["calibration"]["certificate_record_id"]
    if {f.name: f for f in service.verify(cert.record_id)}["CalibrationValidity"].status is Status.VALID:
        service.revoke(calibration, member=CAL, reason="reference standard out of tolerance")
    state = certificate_status.state(service, cert.record_id)
    assert state["state"] == "not_valid"
    assert {"check": "CalibrationValidity", "code": "CALIBRATION_REVOKED"} in state["failed_checks"]
    page = verify_page.render(state, "vi")
    assert "Không hợp lệ" in page and "state-not_valid" in page
