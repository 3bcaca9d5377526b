"""The pipeline end to end on the embedded EVM and on anvil: ingest, anchor, verify, revoke, proof bundles."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from ledger_service.cli import app
from ledger_service.config import Settings
from ledger_service.demo import LAB, REG, Demo, run_demo
from ledger_service.index.models import RecordRow
from ledger_service.records import RecordInvalid
from ledger_service.runtime import Runtime, open_runtime
from ledger_service.verification import Status, is_valid
from tests.utils.anvil import anvil_node
from tests.utils.postgres import postgres_cluster


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_the_demo_story_on_the_embedded_chain(tmp_path: Path, database: str) -> None:
    with ExitStack() as stack:
        url = stack.enter_context(postgres_cluster()) if database == "postgresql" else None
        runtime = open_runtime(Settings(data_dir=tmp_path, database_url=url))
        report = run_demo(runtime.service, runtime.keys, count=30, out_dir=tmp_path / "out")
        runtime.engine.dispose()
    # 30 records, then 5 end-of-line flash tests (one per EL image at stage initial) and 12 of a qualification lot.
    assert report.records_by_tier == {"A": 2, "B": 16 + 5 + 12, "C": 12}
    assert report.inspection["images"] == 24 == report.inspection["anchored"]
    assert report.inspection["overridden by a person"] == 1
    assert report.inspection["pass"] > 0 and report.inspection["fail"] > 0  # cells spread over the data set
    assert report.anchored == 47
    assert (report.verified_valid, report.verified_total) == (47, 47)
    assert [c[2] for c in report.cases] == [
        "ATTACHMENT_DIGEST_MISMATCH",
        "CALIBRATION_NOT_VALID_AT",
        "CALIBRATION_NOT_VALID_AT (QualityLedgerCalibrationNotValidAt)",
        "REVOKED",
        "NOTHING DECRYPTED",
    ]
    assert report.recall == {
        "recall": 1,
        "confidential records in the lot": 3,
        "releases": 3,
        "decrypted": 3,
        "verified": 3,
        "outside the lot, decrypted": 0,
    }
    assert oct((tmp_path / "keys" / f"{LAB}.key").stat().st_mode & 0o777) == "0o600"
    assert {"ixbrl", "json", "pdf", "certificate 1", "certificate 3"} <= set(report.outputs)
    assert all(p.stat().st_size for p in report.outputs.values()) and report.certificates_valid == 3
    disclosures = json.loads(report.outputs["json"].read_text())
    assert disclosures["metrics"]["anchoring_coverage"]["value"] == 1.0
    # The qualification lot loses 1.0 to 2.2 % after TC200 and 1.8 to 3.6 % after DH1000 (demo.flash_tests).
    durability = disclosures["metrics"]["durability_pmax_loss"]
    assert durability["value"] == pytest.approx((1.8 + 2.4 + 3.0 + 3.6) / 4, abs=0.01)
    assert [r["modules"] for r in durability["table"]] == [4, 4]
    assert disclosures["metrics"]["production_mw"]["breakdown"]["units_flash_tested"] == 5
    assert {"csv", "xlsx"} <= set(report.outputs)
    packed = report.outputs["re-performance pack"]
    run = subprocess.run([sys.executable, str(packed / "reperform.py"), str(packed)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout  # the demo's every figure re-performed from its pack alone


@pytest.fixture(scope="module")
def on_anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Runtime, Demo, str]]:
    with anvil_node("--hardfork", "cancun") as url:
        runtime = open_runtime(Settings(data_dir=tmp_path_factory.mktemp("anvil-demo"), chain_url=url))
        demo = Demo(runtime.service, runtime.keys)
        demo.found_consortium()
        demo.calibrate_instruments()
        yield runtime, demo, url


def _count(runtime: Runtime) -> int:
    with runtime.service.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(RecordRow)) or 0)


def test_ingest_is_idempotent_and_refusals_write_nothing(on_anvil: tuple[Runtime, Demo, str]) -> None:
    runtime, demo, _ = on_anvil
    service = runtime.service
    raw, files = demo.record("tensile_test", 1)
    first = service.submit(raw, files)
    again = service.submit(raw, files)
    assert first.record_id == again.record_id and first.created and not again.created
    assert service.anchor_pending() == 1
    assert service.anchor_pending() == 0
    before = _count(runtime)
    bad, _ = demo.record("xrf_analysis", 2)
    del bad["operator"]
    bad["instrument"]["calibration"]["certificate_record_id"] = "0" * 64
    with pytest.raises(RecordInvalid) as refused:
        service.submit(bad)
    assert {f.code for f in refused.value.faults} == {"MISSING_FIELD", "CALIBRATION_NOT_ANCHORED"}
    assert _count(runtime) == before


def test_proof_bundles_verify_against_the_node_without_a_database(
    on_anvil: tuple[Runtime, Demo, str], tmp_path: Path
) -> None:
    runtime, demo, url = on_anvil
    service = runtime.service
    ids = [
        service.submit(*demo.record(kind, 100 + i)).record_id
        for i, kind in enumerate(["el_image", "xrf_analysis", "tensile_test"])
    ]
    service.anchor_pending()
    runner = CliRunner()
    from ledger_service.runtime import trust_document

    assert service.chain.deployment is not None
    (tmp_path / "consortium.json").write_text(json.dumps(trust_document(service.chain.deployment)))
    trust = ["--consortium", str(tmp_path / "consortium.json")]
    for record_id in ids:
        bundle = tmp_path / f"{record_id}.json"
        bundle.write_text(json.dumps(service.proof_bundle(record_id)))
        result = runner.invoke(app, ["verify", str(bundle), "--rpc", url, *trust, "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["valid"] is True

    # A changed figure in the record breaks its digest.
    tampered = json.loads((tmp_path / f"{ids[2]}.json").read_text())
    tampered["record"]["results"]["values"][1]["value"] += 1
    (tmp_path / "t.json").write_text(json.dumps(tampered))
    result = runner.invoke(app, ["verify", str(tmp_path / "t.json"), "--rpc", url, *trust, "--json"])
    assert result.exit_code == 3
    codes = {f["name"]: (f["reason"] or {}).get("code") for f in json.loads(result.output)["fragments"]}
    assert codes["Sm3RecordHash"] == "DIGEST_MISMATCH"

    # A revoked record: the bundle still proves the anchor, and the status says REVOKED.
    service.revoke(ids[1], member=REG, reason="withdrawn by regulator")
    result = runner.invoke(app, ["verify", str(tmp_path / f"{ids[1]}.json"), "--rpc", url, *trust, "--json"])
    fragments = {f["name"]: f for f in json.loads(result.output)["fragments"]}
    assert result.exit_code == 3 and fragments["RecordStatus"]["reason"]["code"] == "REVOKED"
    assert fragments["ChainAnchor"]["status"] == "VALID"

    # Malformed input: one readable line, exit 1.
    (tmp_path / "bad.json").write_text('{"format": "something else"}')
    result = runner.invoke(app, ["verify", str(tmp_path / "bad.json"), "--rpc", url])
    assert result.exit_code == 1 and "format" in result.output


def test_supersede_and_verification_by_record_id(on_anvil: tuple[Runtime, Demo, str]) -> None:
    runtime, demo, _ = on_anvil
    service = runtime.service
    old = service.submit(*demo.record("tensile_test", 200)).record_id
    new = service.submit(*demo.record("tensile_test", 201)).record_id
    service.anchor_pending()
    assert is_valid(service.verify(old))
    service.supersede(old, new, member=LAB, reason="7.8.8 amendment")
    status = next(f for f in service.verify(old) if f.name == "RecordStatus")
    assert status.status is Status.INVALID and status.reason == {
        "code": "SUPERSEDED",
        "message": "the record was superseded",
    }
    assert status.data["superseded_by"] == new


def test_a_refused_record_leaves_nothing_in_any_store(tmp_path: Path) -> None:
    from ledger_service.digests import digest_bytes
    from ledger_service.service import AttachmentFile
    from ledger_service.store import cid_of_bytes

    runtime = open_runtime(Settings(data_dir=tmp_path))
    demo = Demo(runtime.service, runtime.keys)
    demo.found_consortium()
    demo.calibrate_instruments()
    demo.configure_escrow()
    service = runtime.service
    for confidentiality in ("public", "confidential"):
        raw, files = demo.record("el_image", 4242 if confidentiality == "public" else 4343)
        raw["confidentiality"] = confidentiality
        image = files[0].data or b""
        on_disk = tmp_path / f"{confidentiality}.png"
        on_disk.write_bytes(image + b"streamed")  # a second attachment given as a path, streamed
        sent = [*files, AttachmentFile("second.png", "image/png", path=on_disk)]
        refused = {**raw, "operator": {"id": "op-nobody"}}
        with pytest.raises(RecordInvalid):
            service.submit(refused, sent, actor=LAB)
        assert not service.store.has(cid_of_bytes(image)) and not service.store.has(cid_of_bytes(on_disk.read_bytes()))
        accepted = service.submit(raw, sent, actor=LAB)
        with service.sessions() as session:
            row = session.get(RecordRow, accepted.record_id)
            assert row is not None
            cids = [a.cid for a in row.attachments]
        assert all(cid and service.store.has(cid) for cid in cids)  # what the record names is what was stored
        if confidentiality == "public":
            assert cids == [cid_of_bytes(image), cid_of_bytes(on_disk.read_bytes())]
        else:  # ciphertext only
            assert not service.store.has(cid_of_bytes(image)) and digest_bytes(image).sm3_hex not in cids
    runtime.engine.dispose()
