"""The HTTP API on the embedded chain: authentication, submission, anchoring by the worker, problem documents."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledger_service.config import Settings
from ledger_service.demo import CAL, LAB, MFR, REG, Demo
from ledger_service.index import crud
from ledger_service.runtime import Runtime, open_runtime
from tests.utils.api import api_keys, demo_app


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Runtime, Demo, dict[str, str]]]:
    runtime = open_runtime(Settings(data_dir=tmp_path_factory.mktemp("api")))
    demo = Demo(runtime.service, runtime.keys)
    demo.found_consortium()
    demo.calibrate_instruments()
    demo.configure_escrow()
    demo.enrol_signers()
    keys = api_keys(runtime, (LAB, CAL, MFR, REG))
    with TestClient(demo_app(runtime, demo)) as client:
        yield client, runtime, demo, keys


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code and body["type"] == f"urn:qledger:problem:{code.lower().replace('_', '-')}"
    return body


def test_submit_anchor_verify_and_prove(world: tuple[TestClient, Runtime, Demo, dict[str, str]]) -> None:
    client, runtime, demo, keys = world
    raw, _ = demo.record("tensile_test", 1)
    response = client.post("/v1/records", json=raw, headers=auth(keys[LAB]))
    assert response.status_code == 202, response.text
    record_id = response.json()["record_id"]
    assert response.headers["location"] == f"/v1/records/{record_id}/status"
    assert client.get(f"/v1/records/{record_id}/status", headers=auth(keys[LAB])).json()["status"] == "accepted"
    problem(client.post("/v1/records", json=raw, headers=auth(keys[LAB])), 409, "ALREADY_SUBMITTED")
    problem(client.get(f"/v1/records/{record_id}/proof", headers=auth(keys[LAB])), 409, "NOT_ANCHORED")

    assert client.app.state.worker.run_once() == 1  # type: ignore[attr-defined]
    status = client.get(f"/v1/records/{record_id}/status", headers=auth(keys[MFR])).json()
    assert status["status"] == "anchored" and status["anchor"]["tier"] == "A"
    verification = client.get(f"/v1/records/{record_id}/verification", headers=auth(keys[REG])).json()
    assert verification["valid"] is True
    bundle = client.get(f"/v1/records/{record_id}/proof", headers=auth(keys[REG])).json()
    assert bundle["format"] == "qledger-proof-bundle/1" and bundle["record_id"] == record_id


def test_multipart_with_an_image_attachment(world: tuple[TestClient, Runtime, Demo, dict[str, str]]) -> None:
    client, _, demo, keys = world
    raw, files = demo.record("el_image", 2)
    response = client.post(
        "/v1/records",
        files=[
            ("record", (None, json.dumps(raw), "application/json")),
            ("attachments", (files[0].name, files[0].data, "image/png")),
        ],
        headers=auth(keys[LAB]),
    )
    assert response.status_code == 202, response.text
    record = client.get(f"/v1/records/{response.json()['record_id']}", headers=auth(keys[LAB])).json()
    (attachment,) = record["record"]["attachments"]
    assert attachment["name"] == files[0].name and attachment["cid"].startswith("bafkrei")


def test_authentication_and_membership(world: tuple[TestClient, Runtime, Demo, dict[str, str]]) -> None:
    client, _, demo, keys = world
    raw, _ = demo.record("xrf_analysis", 3)
    response = client.post("/v1/records", json=raw)
    assert problem(response, 401, "UNAUTHENTICATED") and response.headers["www-authenticate"].startswith("Bearer")
    problem(client.post("/v1/records", json=raw, headers=auth("qlk_not-a-key")), 401, "UNAUTHENTICATED")
    body = problem(client.post("/v1/records", json=raw, headers=auth(keys[CAL])), 403, "WRONG_MEMBER")
    assert body["errors"] == [
        {
            "field": "lab.member_id",
            "code": "WRONG_MEMBER",
            "message": "authenticated as CAL-NIM, the record names LAB-SZ",
        }
    ]
    as_mfr = dict(raw, lab={**raw["lab"], "member_id": MFR})
    problem(client.post("/v1/records", json=as_mfr, headers=auth(keys[MFR])), 403, "NOT_ACCREDITED")
    me = client.get("/v1/members/me", headers=auth(keys[LAB])).json()
    assert me["member_id"] == LAB and me["status"] == "active" and "lab" in me["roles"]


def test_bad_input_gets_a_clear_4xx(world: tuple[TestClient, Runtime, Demo, dict[str, str]]) -> None:
    client, _, demo, keys = world
    h = auth(keys[LAB])
    problem(
        client.post("/v1/records", content=b"{not json", headers={**h, "content-type": "application/json"}),
        400,
        "MALFORMED_JSON",
    )
    problem(
        client.post("/v1/records", content=b"<record/>", headers={**h, "content-type": "application/xml"}),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    big = b"x" * (2 << 20)
    problem(
        client.post("/v1/records", content=big, headers={**h, "content-type": "application/json"}), 413, "TOO_LARGE"
    )
    raw, _ = demo.record("tensile_test", 4)
    body = problem(client.post("/v1/records", json={**raw, "record_type": "pizza"}, headers=h), 422, "RECORD_INVALID")
    assert ("record_type", "UNKNOWN_RECORD_TYPE") in {(e["field"], e["code"]) for e in body["errors"]}
    missing = {k: v for k, v in raw.items() if k not in ("operator", "checker_id")}
    body = problem(client.post("/v1/records", json=missing, headers=h), 422, "RECORD_INVALID")
    assert {(e["field"], e["code"]) for e in body["errors"]} == {
        ("operator", "MISSING_FIELD"),
        ("checker_id", "MISSING_FIELD"),
    }
    problem(client.get("/v1/records/not-an-id", headers=h), 422, "REQUEST_INVALID")
    problem(client.get("/v1/records/" + "0" * 64, headers=h), 404, "NOT_FOUND")


def test_confidential_records_and_revocation_rights(world: tuple[TestClient, Runtime, Demo, dict[str, str]]) -> None:
    client, _, demo, keys = world
    raw, _ = demo.record("tensile_test", 5)
    raw["confidentiality"] = "confidential"
    record_id = client.post("/v1/records", json=raw, headers=auth(keys[LAB])).json()["record_id"]
    client.app.state.worker.run_once()  # type: ignore[attr-defined]
    assert client.get(f"/v1/records/{record_id}", headers=auth(keys[LAB])).status_code == 200
    not_yours = problem(client.get(f"/v1/records/{record_id}", headers=auth(keys[MFR])), 404, "NOT_FOUND")
    unknown = problem(client.get("/v1/records/" + "e" * 64, headers=auth(keys[MFR])), 404, "NOT_FOUND")
    assert {k: v for k, v in not_yours.items() if k != "detail"} == {k: v for k, v in unknown.items() if k != "detail"}
    listed = client.get("/v1/records", params={"record_type": "tensile_test"}, headers=auth(keys[MFR])).json()
    assert record_id not in {r["record_id"] for r in listed["data"]}

    public, _ = demo.record("tensile_test", 6)
    public_id = client.post("/v1/records", json=public, headers=auth(keys[LAB])).json()["record_id"]
    client.app.state.worker.run_once()  # type: ignore[attr-defined]
    problem(
        client.post(f"/v1/records/{public_id}/revoke", json={"reason": "x"}, headers=auth(keys[MFR])), 403, "FORBIDDEN"
    )
    assert (
        client.post(
            f"/v1/records/{public_id}/revoke", json={"reason": "specimen mix-up"}, headers=auth(keys[REG])
        ).json()["status"]
        == "revoked"
    )
    codes = {
        f["reason"]["code"]
        for f in client.get(f"/v1/records/{public_id}/verification", headers=auth(keys[LAB])).json()["fragments"]
        if f["reason"]
    }
    assert "REVOKED" in codes


def test_operations_endpoints_and_openapi(world: tuple[TestClient, Runtime, Demo, dict[str, str]]) -> None:
    client, _, _, _ = world
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready == {"ready": True, "chain": True, "ipfs": True, "database": True}
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1") and "/v1/records" in spec["paths"]


def test_every_access_is_audited_and_measured(world: tuple[TestClient, Runtime, Demo, dict[str, str]]) -> None:
    from sqlalchemy import select

    from ledger_service.index.models import AuditRow

    client, runtime, demo, keys = world
    client.get("/v1/members/me", headers=auth("qlk_wrong"))
    raw, _ = demo.record("xrf_analysis", 7)
    record_id = client.post("/v1/records", json=raw, headers=auth(keys[LAB])).json()["record_id"]
    client.get(f"/v1/records/{record_id}", headers=auth(keys[MFR]))
    import time

    expected = {
        ("anonymous", "GET /v1/members/me", "401", None),
        (LAB, "POST /v1/records", "202", None),
        (MFR, "GET /v1/records/{record_id}", "200", record_id),
    }
    for _ in range(100):  # access entries are appended in batches, within ~50 ms
        with runtime.service.sessions() as session:
            rows = list(session.scalars(select(AuditRow).where(AuditRow.action == "api").order_by(AuditRow.id)))
        seen = {(r.actor, r.field, r.new_value, r.record_id) for r in rows}
        if expected <= seen:
            break
        time.sleep(0.05)
    assert ("anonymous", "GET /v1/members/me", "401", None) in seen
    assert (LAB, "POST /v1/records", "202", None) in seen
    assert (MFR, "GET /v1/records/{record_id}", "200", record_id) in seen
    text = client.get("/metrics").text
    assert "qledger_records_accepted_total" in text and "qledger_outbox_depth" in text
    assert 'qledger_http_requests_total{method="POST",status="202"}' in text


def test_members_and_instruments_directory(world: tuple[TestClient, Runtime, Demo, dict[str, str]]) -> None:
    from ledger_service.demo import INSTRUMENTS, OLD_CAMERA

    client, runtime, demo, keys = world
    h = auth(keys[MFR])
    members = client.get("/v1/members", headers=h).json()
    assert members["count"] == len(runtime.service.accounts)
    by_id = {m["member_id"]: m for m in members["data"]}
    assert by_id[LAB]["status"] == "active" and by_id[LAB]["accreditation"]["record_type_scope"] > 0
    assert "regulator" in by_id[REG]["roles"] and by_id[REG]["accreditation"] is None
    problem(client.get("/v1/members/NOBODY", headers=h), 404, "NOT_FOUND")
    problem(client.get("/v1/members"), 401, "UNAUTHENTICATED")

    listed = {i["instrument_id"]: i for i in client.get("/v1/instruments", headers=h).json()["data"]}
    assert set(INSTRUMENTS) | {OLD_CAMERA} <= set(listed)
    assert [c["in_force_now"] for c in listed["EL-CAM-01"]["calibrations"]] == [True]
    assert [c["in_force_now"] for c in listed[OLD_CAMERA]["calibrations"]] == [False]  # expired a month ago
    camera = client.get("/v1/instruments/EL-CAM-01", headers=h).json()
    assert camera["registered"] and camera["owner"] == LAB
    assert [c["certificate_id"] for c in camera["calibrations_on_chain"]] == [demo.certificates["EL-CAM-01"]]
    problem(client.get("/v1/instruments/NO-SUCH-THING", headers=h), 404, "NOT_FOUND")

    created = client.post(
        "/v1/instruments", json={"instrument_id": "XRF-02", "model": "XRF bench 2"}, headers=auth(keys[LAB])
    )
    assert created.status_code == 201, created.text
    assert created.json()["owner"] == LAB and created.json()["calibrations_on_chain"] == []
    again = {"instrument_id": "XRF-02", "model": "XRF bench 2"}
    problem(client.post("/v1/instruments", json=again, headers=auth(keys[LAB])), 409, "ALREADY_REGISTERED")
    problem(client.post("/v1/instruments", json={"instrument_id": ""}, headers=auth(keys[LAB])), 422, "REQUEST_INVALID")
    # The certificate of another instrument; someone else's instrument; a certificate registered already.
    cert = {"certificate_record_id": demo.certificates["EL-CAM-01"]}
    problem(
        client.post("/v1/instruments/XRF-02/calibrations", json=cert, headers=auth(keys[LAB])), 400, "REQUEST_REFUSED"
    )
    # Instruments are keyed by owner on chain: the manufacturer has no EL-CAM-01 of its own to calibrate.
    problem(
        client.post("/v1/instruments/EL-CAM-01/calibrations", json=cert, headers=auth(keys[MFR])),
        404,
        "UNKNOWN_INSTRUMENT",
    )
    problem(
        client.post("/v1/instruments/EL-CAM-01/calibrations", json=cert, headers=auth(keys[LAB])),
        409,
        "ALREADY_REGISTERED",
    )


def test_recall_over_the_api_unlocks_for_the_regulator_only(
    world: tuple[TestClient, Runtime, Demo, dict[str, str]],
) -> None:
    from consortium.agent import EscrowAgent
    from ledger_service.demo import AGENTS

    client, runtime, demo, keys = world
    raw, _ = demo.record("xrf_analysis", 77)
    raw["confidentiality"], raw["subject"]["lot"] = "confidential", "LOT-API"
    record_id = client.post("/v1/records", json=raw, headers=auth(keys[LAB])).json()["record_id"]
    client.app.state.worker.run_once()  # type: ignore[attr-defined]
    body = {"scope_kind": "lot", "lot": "LOT-API", "reason": "contamination"}
    problem(client.post("/v1/recalls", json=body, headers=auth(keys[MFR])), 403, "FORBIDDEN")
    problem(
        client.post("/v1/recalls", json={"scope_kind": "lot", "reason": "x"}, headers=auth(keys[REG])),
        422,
        "REQUEST_INVALID",
    )
    opened = client.post("/v1/recalls", json=body, headers=auth(keys[REG]))
    assert opened.status_code == 201, opened.text
    recall_id = opened.json()["recall_id"]
    assert opened.json()["status"] == "confirmed" and opened.json()["regulator"] == REG
    problem(client.get(f"/v1/records/{record_id}", headers=auth(keys[REG])), 404, "NOT_FOUND")  # not unlocked yet

    for name in AGENTS[:3]:
        EscrowAgent(runtime.service, name, runtime.keys.sm2(name)).run_once()
    assert len(client.get(f"/v1/recalls/{recall_id}", headers=auth(keys[MFR])).json()["releases"]) == 3
    problem(client.post(f"/v1/recalls/{recall_id}/decrypt", headers=auth(keys[MFR])), 403, "FORBIDDEN")
    unlocked = client.post(f"/v1/recalls/{recall_id}/decrypt", headers=auth(keys[REG])).json()
    assert unlocked["verified"] == [record_id] and unlocked["releases"] == 3
    assert (
        client.get(f"/v1/records/{record_id}", headers=auth(keys[REG])).json()["record"]["subject"]["lot"] == "LOT-API"
    )
    problem(client.get(f"/v1/records/{record_id}", headers=auth(keys[MFR])), 404, "NOT_FOUND")
    problem(client.get("/v1/recalls/999", headers=auth(keys[REG])), 404, "NOT_FOUND")

    # Access is what the chain says, never an audit row: an inserted one gives a manufacturer nothing.
    with runtime.service.sessions.begin() as session:
        crud.audit(session=session, actor=MFR, action="recall_decrypt", record_id=record_id, new_value=str(recall_id))
    problem(client.get(f"/v1/records/{record_id}", headers=auth(keys[MFR])), 404, "NOT_FOUND")
    # The recall closes: the regulator's reads and decryption end with it.
    problem(
        client.post(f"/v1/recalls/{recall_id}/close", json={"reason": "x"}, headers=auth(keys[MFR])), 403, "FORBIDDEN"
    )
    closed = client.post(f"/v1/recalls/{recall_id}/close", json={"reason": "lot withdrawn"}, headers=auth(keys[REG]))
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    problem(client.get(f"/v1/records/{record_id}", headers=auth(keys[REG])), 404, "NOT_FOUND")
    refused = problem(client.post(f"/v1/recalls/{recall_id}/decrypt", headers=auth(keys[REG])), 400, "REQUEST_REFUSED")
    assert "not in force" in refused["detail"]


def test_reports_and_certificates_over_the_api(world: tuple[TestClient, Runtime, Demo, dict[str, str]]) -> None:
    import io
    import zipfile

    client, runtime, demo, keys = world
    raw, _ = demo.record("xrf_analysis", 88)
    record_id = client.post("/v1/records", json=raw, headers=auth(keys[LAB])).json()["record_id"]
    client.app.state.worker.run_once()  # type: ignore[attr-defined]
    year = raw["measured_at"][:4]
    problem(client.get("/v1/reports", params={"period": year}), 401, "UNAUTHENTICATED")
    doc = client.get("/v1/reports", params={"period": year, "framework": ["gri", "sasb"]}, headers=auth(keys[MFR]))
    assert doc.status_code == 200 and set(doc.json()["frameworks"]) == {"gri", "sasb"}
    assert doc.json()["metrics"]["anchoring_coverage"]["evidence"]["records"] >= 1
    packed = client.get("/v1/reports", params={"period": year, "format": "ixbrl"}, headers=auth(keys[MFR]))
    names = zipfile.ZipFile(io.BytesIO(packed.content)).namelist()
    assert names == [f"esg-{year}.xhtml", "qledger-quality-2026.2.xsd"]
    table = client.get("/v1/reports", params={"period": year, "format": "csv"}, headers=auth(keys[MFR]))
    assert table.headers["content-type"].startswith("text/csv") and record_id in table.text
    problem(client.get("/v1/reports", params={"period": 1500}, headers=auth(keys[MFR])), 422, "REQUEST_INVALID")

    body = {"target": record_id, "languages": ["vi", "zh-Hans"]}
    problem(client.post("/v1/certificates", json=body, headers=auth(keys[MFR])), 403, "FORBIDDEN")
    problem(
        client.post("/v1/certificates", json={**body, "languages": ["xx"]}, headers=auth(keys[LAB])),
        422,
        "REQUEST_INVALID",
    )
    pdf = client.post("/v1/certificates", json=body, headers=auth(keys[LAB]))
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    landing = client.get(f"/v1/certificates/{record_id}")  # where the QR code points: no credentials needed
    assert landing.status_code == 200 and landing.json()["status"] == "anchored"
    assert landing.json()["anchor"]["tx_hash"].startswith("0x") and "record" not in landing.json()
    # What the QR page shows an importer (issue 16): item, lot, lab, verdict; never the results or the record.
    assert landing.json()["state"] == "valid" and "results" not in landing.json()["certified"]
    problem(client.get(f"/v1/certificates/{'0' * 64}"), 404, "NOT_FOUND")
    checked = client.post("/v1/certificates/verify", content=pdf.content, headers={"content-type": "application/pdf"})
    assert checked.status_code == 200 and checked.json()["valid"] is True  # no credentials needed to verify
    garbage = client.post(
        "/v1/certificates/verify", content=b"%PDF-1.7 nonsense", headers={"content-type": "application/pdf"}
    )
    assert garbage.json()["valid"] is False and garbage.json()["fragments"][0]["reason"]["code"] == "NO_CREDENTIAL"
    problem(
        client.post("/v1/certificates/verify", content=b"x", headers={"content-type": "text/plain"}),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    )


def test_the_human_review_queue_over_the_api(world: tuple[TestClient, Runtime, Demo, dict[str, str]]) -> None:
    import elpv_dataset

    from inference_bridge import registry
    from inference_bridge.pipeline import Inspector

    client, runtime, demo, keys = world
    card_id = registry.register(runtime.service, json.loads(registry.DEMO_CARD.read_text()), LAB)
    _, card, model = registry.load(runtime.service, card_id)
    images = sorted((Path(elpv_dataset.__file__).parent / "data" / "images").glob("*.png"))
    decisions = Inspector(runtime.service, model, card_id, card, demo.inspection_envelope, actor=LAB).run(images[:120])
    waiting = client.get("/v1/reviews", headers=auth(keys[LAB])).json()
    assert waiting["count"] == sum(d.decision == "review" for d in decisions) > 0
    assert client.get("/v1/reviews", headers=auth(keys[MFR])).json()["count"] == 0  # another lab's queue: nothing
    target = waiting["data"][0]["record_id"]
    body = {"verdict": "override", "decision": "pass", "reason": "finger interruption, not a crack"}
    problem(client.post(f"/v1/reviews/{target}", json=body, headers=auth(keys[MFR])), 403, "FORBIDDEN")
    problem(
        client.post(f"/v1/reviews/{target}", json={**body, "verdict": "maybe"}, headers=auth(keys[LAB])),
        422,
        "REQUEST_INVALID",
    )
    done = client.post(f"/v1/reviews/{target}", json=body, headers=auth(keys[LAB]))
    assert done.status_code == 201, done.text
    assert target not in {t["record_id"] for t in client.get("/v1/reviews", headers=auth(keys[LAB])).json()["data"]}
    review = client.get(f"/v1/records/{done.json()['review_record_id']}", headers=auth(keys[LAB])).json()
    assert review["record"]["results"]["reviewed_record_id"] == target and review["record_type"] == "human_review"
    # The override carries the electronic signature of the person who made it (21 CFR 11.50).
    (signature,) = review["record"]["signatures"]
    assert (signature["signer"], signature["meaning"]) == (demo.profile.station(LAB).inspection.reviewer, "performed")
    unknown = {**body, "reviewer": "nobody-enrolled"}
    problem(client.post(f"/v1/reviews/{target}", json=unknown, headers=auth(keys[LAB])), 409, "SIGNER_NOT_ENROLLED")


def test_members_list_and_revoke_their_own_api_keys(world: tuple[TestClient, Runtime, Demo, dict[str, str]]) -> None:
    from ledger_service.digests import sm3

    client, runtime, _, keys = world
    spare = runtime.service.issue_api_key(MFR, actor="admin")
    other = runtime.service.issue_api_key(CAL, actor="admin")
    spare_id, other_id = (sm3(k.encode()).hex()[:16] for k in (spare, other))
    assert client.get("/v1/members/me", headers=auth(spare)).status_code == 200  # the key works, and is cached
    listed = client.get("/v1/keys", headers=auth(keys[MFR])).json()
    assert listed["count"] == 2 and {k["member"] for k in listed["data"]} == {MFR}  # its own keys, never others'
    assert spare_id in {k["key_id"] for k in listed["data"]} and "qlk_" not in json.dumps(listed)  # ids, not keys
    problem(client.post(f"/v1/keys/{other_id}/revoke", headers=auth(keys[MFR])), 404, "NOT_FOUND")  # not its key
    problem(client.post("/v1/keys/0123456789abcdef/revoke", headers=auth(keys[MFR])), 404, "NOT_FOUND")
    revoked = client.post(f"/v1/keys/{spare_id}/revoke", headers=auth(keys[MFR]))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    problem(client.get("/v1/members/me", headers=auth(spare)), 401, "UNAUTHENTICATED")  # at once, not in 5 s
    problem(client.post(f"/v1/keys/{spare_id}/revoke", headers=auth(keys[MFR])), 400, "REQUEST_REFUSED")  # twice
    problem(client.get("/v1/keys", headers=auth("qlk_unknown")), 401, "UNAUTHENTICATED")
    assert client.get("/v1/members/me", headers=auth(other)).status_code == 200  # the other member's key still works


def test_date_filters_honour_offsets(world: tuple[TestClient, Runtime, Demo, dict[str, str]]) -> None:
    from datetime import UTC, timedelta, timezone

    client, _, demo, keys = world
    moment = (demo.now - timedelta(days=2)).replace(microsecond=0).astimezone(UTC)
    raw, _ = demo.record("tensile_test", 77)
    raw["measured_at"] = moment.isoformat().replace("+00:00", "Z")
    record_id = client.post("/v1/records", json=raw, headers=auth(keys[LAB])).json()["record_id"]

    def at(offset_minutes: int, shift_s: int = 0) -> str:
        return (moment + timedelta(seconds=shift_s)).astimezone(timezone(timedelta(minutes=offset_minutes))).isoformat()

    def found(since: str, until: str) -> bool:
        params = {"measured_from": since, "measured_until": until, "limit": 500}
        data = client.get("/v1/records", params=params, headers=auth(keys[LAB])).json()["data"]
        return record_id in {r["record_id"] for r in data}

    assert found(at(0), at(0))
    assert found(at(1), at(480))  # the same instant written with offsets +00:01 and +08:00
    assert not found(at(1, 1), at(0, 3600))
    assert not found(at(480, -3600), at(-300, -1))


def test_every_access_is_chained_in_the_audit_trail_before_its_answer(
    world: tuple[TestClient, Runtime, Demo, dict[str, str]],
) -> None:
    from sqlalchemy import select, text

    from ledger_service.index.models import AuditRow

    client, runtime, _, keys = world
    service = runtime.service

    def last_entry() -> AuditRow:
        with service.sessions() as session:
            row = session.scalars(select(AuditRow).order_by(AuditRow.id.desc()).limit(1)).first()
            assert row is not None
            return row

    assert client.get("/v1/members/me", headers=auth(keys[MFR])).status_code == 200
    entry = last_entry()  # read at once: the entry was durable before the answer left
    assert (entry.actor, entry.field, entry.new_value) == (MFR, "GET /v1/members/me", "200")
    problem(client.get("/v1/members/me", headers=auth("qlk_made_up")), 401, "UNAUTHENTICATED")
    assert (last_entry().actor, last_entry().new_value) == ("anonymous", "401")

    problem(client.get("/v1/audit", headers=auth(keys[MFR])), 403, "FORBIDDEN")  # auditors and regulators only
    # An id past SQLite's 64-bit integers is a 422 naming the field, not a 500 (found by the property test).
    huge = client.get("/v1/audit", params={"after": 2**64}, headers=auth(keys[REG]))
    assert problem(huge, 422, "REQUEST_INVALID")["errors"][0]["field"] == "query.after"
    listed = client.get("/v1/audit", params={"after": entry.id - 1, "limit": 2}, headers=auth(keys[REG])).json()
    assert [e["id"] for e in listed["data"]] == [entry.id, entry.id + 1]
    assert listed["data"][1]["prev_sm3"] == listed["data"][0]["entry_sm3"]

    assert service.anchor_audit_head(LAB) is not None  # the head, on chain
    verdict = client.get("/v1/audit/verification", headers=auth(keys[REG])).json()
    assert verdict["intact"] is True and verdict["anchored_up_to"] is not None and verdict["findings"] == []
    with service.sessions.begin() as session:  # a forged anchor row: its root is on no chain
        session.execute(text("UPDATE audit_anchors SET root = :r"), {"r": "ee" * 32})
    verdict = client.get("/v1/audit/verification", headers=auth(keys[REG])).json()
    assert verdict["intact"] is False and verdict["findings"][0]["code"] == "ANCHOR_NOT_ON_CHAIN"
    with service.sessions.begin() as session:
        session.execute(text("DELETE FROM audit_anchors"))


def test_a_submission_is_audited_once_in_the_transaction_that_writes_it(
    world: tuple[TestClient, Runtime, Demo, dict[str, str]],
) -> None:
    """The access entry of POST /v1/records goes into the submission's own transaction, with the answer the
    outcome gives (202, 409, 422): present at once, exactly once, and next to the record's own entry."""
    from sqlalchemy import select

    from ledger_service.index.models import AuditRow

    client, runtime, demo, keys = world

    def entries_after(last: int) -> list[tuple[str, str, str | None, str | None]]:
        with runtime.service.sessions() as session:
            rows = session.scalars(select(AuditRow).where(AuditRow.id > last).order_by(AuditRow.id))
            return [(r.actor, r.action, r.field, r.new_value) for r in rows]

    def last_id() -> int:
        with runtime.service.sessions() as session:
            return max(session.scalars(select(AuditRow.id)), default=0)

    raw, _ = demo.record("xrf_analysis", 8)
    before = last_id()
    assert client.post("/v1/records", json=raw, headers=auth(keys[LAB])).status_code == 202
    assert entries_after(before) == [
        (LAB, "create", None, "xrf_analysis"),
        (LAB, "api", "POST /v1/records", "202"),
    ]
    before = last_id()
    problem(client.post("/v1/records", json=raw, headers=auth(keys[LAB])), 409, "ALREADY_SUBMITTED")
    assert entries_after(before) == [(LAB, "api", "POST /v1/records", "409")]
    before = last_id()
    problem(
        client.post("/v1/records", json={**raw, "measured_at": "never"}, headers=auth(keys[LAB])), 422, "RECORD_INVALID"
    )
    assert entries_after(before) == [(LAB, "api", "POST /v1/records", "422")]


def test_dead_letters_are_shown_per_lab(world: tuple[TestClient, Runtime, Demo, dict[str, str]]) -> None:
    client, runtime, _, keys = world
    assert client.get("/v1/dead-letters", headers=auth(keys[LAB])).json() == {"data": [], "count": 0}
    assert client.post("/v1/dead-letters/retry", json={}, headers=auth(keys[LAB])).json() == {"retried": 0}
    assert "qledger_dead_letters 0.0" in client.get("/metrics").text


def test_reports_never_show_another_members_confidential_records(
    world: tuple[TestClient, Runtime, Demo, dict[str, str]],
) -> None:
    client, _, demo, keys = world
    raw, _ = demo.record("xrf_analysis", 4711)
    raw["confidentiality"], raw["subject"]["product"] = "confidential", "SECRET-PRODUCT-X"
    raw["results"]["screening_class"], raw["results"]["elements"][0]["value"] = "OL", 5000.0
    record_id = client.post("/v1/records", json=raw, headers=auth(keys[LAB])).json()["record_id"]
    client.app.state.worker.run_once()  # type: ignore[attr-defined]
    year = raw["measured_at"][:4]
    own = client.get("/v1/reports", params={"period": year}, headers=auth(keys[LAB])).text
    other = client.get("/v1/reports", params={"period": year}, headers=auth(keys[MFR])).text
    assert record_id in own and "SECRET-PRODUCT-X" in own  # the owner's own report includes it
    assert record_id not in other and "SECRET-PRODUCT-X" not in other  # not even its id or product elsewhere


def test_no_route_tells_anyone_a_confidential_record_exists(
    world: tuple[TestClient, Runtime, Demo, dict[str, str]],
) -> None:
    """Found by an attacker: supersede, review and certificate requests answered differently for another
    member's confidential record than for an unknown one."""
    client, _, demo, keys = world
    raw, _ = demo.record("tensile_test", 4242)
    raw["confidentiality"] = "confidential"
    secret = client.post("/v1/records", json=raw, headers=auth(keys[LAB])).json()["record_id"]
    client.app.state.worker.run_once()  # type: ignore[attr-defined]
    unknown, cal_own = "d" * 64, demo.certificates["XRF-01"]  # CAL-NIM's own anchored certificate
    for target in (secret, unknown):
        body = {"replacement_id": target, "reason": "x"}
        problem(client.post(f"/v1/records/{cal_own}/supersede", json=body, headers=auth(keys[CAL])), 404, "NOT_FOUND")
        review = {"verdict": "confirm", "decision": "pass", "reason": "x"}
        problem(client.post(f"/v1/reviews/{target}", json=review, headers=auth(keys[MFR])), 404, "NOT_FOUND")
        certificate = {"target": target, "languages": ["en"]}
        problem(client.post("/v1/certificates", json=certificate, headers=auth(keys[MFR])), 404, "NOT_FOUND")


def test_odd_values_get_a_4xx_never_a_500(world: tuple[TestClient, Runtime, Demo, dict[str, str]]) -> None:
    client, _, _, keys = world
    for body in ({"record_type": ["x"]}, {"record_type": {"a": 1}}):
        response = client.post("/v1/records", json=body, headers=auth(keys[LAB]))
        assert 400 <= response.status_code < 500, response.text
    for moment in ("9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"):
        params = {"measured_from": moment}
        problem(client.get("/v1/records", params=params, headers=auth(keys[LAB])), 422, "REQUEST_INVALID")


def test_a_type_the_profile_signs_is_refused_unsigned(world: tuple[TestClient, Runtime, Demo, dict[str, str]]) -> None:
    """The lab's profile requires its operator's signature on XRF records (station.signed_record_types): the
    API refuses one without (403, the rules module's SIGNATURE_REQUIRED naming the field), and one whose value
    is not the operator's signature of this record (422 SIGNATURE_INVALID at the field), takes one signed."""
    client, _, demo, keys = world
    state = client.app.state  # type: ignore[attr-defined]
    genuine = state.profile
    station = genuine.stations[LAB].model_copy(update={"signed_record_types": ("xrf_analysis",)})
    state.profile = genuine.model_copy(update={"stations": {**genuine.stations, LAB: station}})
    try:
        raw, _ = demo.record("xrf_analysis", 40)
        body = problem(client.post("/v1/records", json=raw, headers=auth(keys[LAB])), 403, "SIGNATURE_REQUIRED")
        assert [(e["field"], e["code"]) for e in body["errors"]] == [("signatures", "SIGNATURE_REQUIRED")]
        reviewed_only = demo.sign(raw, ("reviewed",))
        problem(client.post("/v1/records", json=reviewed_only, headers=auth(keys[LAB])), 403, "SIGNATURE_REQUIRED")
        signed, _ = demo.record("xrf_analysis", 41, signed=True)
        forged = copy.deepcopy(signed)
        forged["signatures"][0]["value"] = forged["signatures"][1]["value"]  # the reviewer's value, not the operator's
        body = problem(client.post("/v1/records", json=forged, headers=auth(keys[LAB])), 422, "RECORD_INVALID")
        assert [(e["field"], e["code"]) for e in body["errors"]] == [("signatures[0].value", "SIGNATURE_INVALID")]
        assert client.post("/v1/records", json=signed, headers=auth(keys[LAB])).status_code == 202
        tensile, _ = demo.record("tensile_test", 42)  # a type the profile does not name: unsigned is fine
        assert client.post("/v1/records", json=tensile, headers=auth(keys[LAB])).status_code == 202
    finally:
        state.profile = genuine


def test_several_certificates_and_bundles_verified_in_one_multipart_request(
    world: tuple[TestClient, Runtime, Demo, dict[str, str]],
) -> None:
    """POST /v1/certificates/verify with multipart `files` parts: each certificate or bundle answered in order
    (the PDFs verified as one batch); a part that is neither, or a bundle that is not one, is refused naming it."""
    client, runtime, demo, keys = world
    ids = []
    for i in (91, 92):
        raw, _ = demo.record("xrf_analysis", i)
        ids.append(client.post("/v1/records", json=raw, headers=auth(keys[LAB])).json()["record_id"])
    client.app.state.worker.run_once()  # type: ignore[attr-defined]
    pdfs = [
        client.post("/v1/certificates", json={"target": r, "languages": ["vi"]}, headers=auth(keys[LAB])).content
        for r in ids
    ]
    bundle = client.get(f"/v1/records/{ids[0]}/proof", headers=auth(keys[LAB])).content
    tampered = b"%PDF-1.7 nonsense"  # no credential: NO_CREDENTIAL
    files = [
        ("files", ("a.pdf", pdfs[0], "application/pdf")),
        ("files", ("bundle.json", bundle, "application/json")),
        ("files", ("b.pdf", pdfs[1], "application/pdf")),
        ("files", ("tampered.pdf", tampered, "application/pdf")),
    ]
    answer = client.post("/v1/certificates/verify", files=files)  # anonymous, as the one-document form
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [r["file"] for r in results] == ["a.pdf", "bundle.json", "b.pdf", "tampered.pdf"]
    assert [r["valid"] for r in results] == [True, True, True, False] and answer.json()["valid"] is False
    one = client.post("/v1/certificates/verify", content=tampered, headers={"content-type": "application/pdf"})

    def codes(fragments: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
        return [(f["name"], f["status"], (f["reason"] or {}).get("code")) for f in fragments]

    assert codes(results[3]["fragments"]) == codes(one.json()["fragments"])  # what the one-document form says

    bad = problem(client.post("/v1/certificates/verify", files=[files[0], ("files", ("x.txt", b"hi", "text/plain"))]),
                  415, "UNSUPPORTED_MEDIA_TYPE")  # fmt: skip
    assert bad["errors"][0]["field"] == "files[1]" and "x.txt" in bad["errors"][0]["message"]
    not_bundle = [files[0], ("files", ("b.json", b'{"format": "nope"}', "application/json"))]
    bad = problem(client.post("/v1/certificates/verify", files=not_bundle), 422, "BUNDLE_INVALID")
    assert bad["errors"][0]["field"] == "files[1]" and "b.json" in bad["errors"][0]["message"]
    mislabelled = [("files", ("c.pdf", b'{"a": 1}', "application/pdf"))]
    bad = problem(client.post("/v1/certificates/verify", files=mislabelled), 422, "REQUEST_INVALID")
    assert bad["errors"][0]["field"] == "files[0]"
    bad = problem(client.post("/v1/certificates/verify", files=[("other", ("a.pdf", pdfs[0], "application/pdf"))]),
                  422, "REQUEST_INVALID")  # fmt: skip
    assert bad["errors"][0]["field"] == "other"
    huge = [("files", ("big.pdf", b"%PDF-" + b"0" * (client.app.state.max_pdf_bytes + 1), "application/pdf"))]  # type: ignore[attr-defined]
    bad = problem(client.post("/v1/certificates/verify", files=[files[0], *huge]), 413, "TOO_LARGE")
    assert bad["errors"][0]["field"] == "files[1]" and "big.pdf" in bad["errors"][0]["message"]
