"""The CLI across separate commands: the chain (anvil --state), index and store persist in the data directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ledger_service.cli import app


def test_init_example_ingest_proof_revoke_verify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QLEDGER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("QLEDGER_CHAIN_URL", raising=False)
    runner = CliRunner()

    def ok(*args: str) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, result.output
        return result.output

    refused = runner.invoke(app, ["ingest", str(tmp_path)])
    assert refused.exit_code == 1 and "qledger init" in refused.output
    ok("init")
    assert runner.invoke(app, ["init"]).exit_code == 1  # once only
    records = tmp_path / "records"
    ok("example", "el_image", "--out-dir", str(records))
    ok("example", "xrf_analysis", "--out-dir", str(records))
    out = ok("ingest", str(records))
    ids = [line.split(": ")[1].split()[0] for line in out.splitlines() if ".json: " in line]
    assert len(ids) == 2 and "anchored 2 record(s)" in out

    bundle = tmp_path / "bundle.json"
    ok("proof", ids[0], "--out", str(bundle))
    assert json.loads(ok("verify", str(bundle), "--json"))["valid"] is True
    verdict = json.loads(ok("verify", ids[0], "--json"))
    assert verdict["valid"] is True
    assert {f["name"]: f["status"] for f in verdict["fragments"]}["Sm3AttachmentHash"] == "VALID"  # image re-read

    # A record file with its attachment: checked by SM3; a changed image is caught; an unknown record is not anchored.
    el_file = tmp_path / "el-record.json"  # the record as stored (its attachments named by their digests)
    el_id = next(i for i in ids if json.loads(ok("verify", i, "--json"))["fragments"][1]["status"] == "VALID")
    ok("proof", el_id, "--out", str(tmp_path / "el-bundle.json"))
    el_file.write_text(json.dumps(json.loads((tmp_path / "el-bundle.json").read_text())["record"]))
    image = next(records.glob("*.png"))
    assert json.loads(ok("verify", str(el_file), "--attach", str(image), "--json"))["valid"] is True
    image.write_bytes(image.read_bytes()[:-1] + b"\x00")
    result = runner.invoke(app, ["verify", str(el_file), "--attach", str(image), "--json"])
    codes = {(f["reason"] or {}).get("code") for f in json.loads(result.output)["fragments"]}
    assert result.exit_code == 2 and "ATTACHMENT_DIGEST_MISMATCH" in codes
    stranger = json.loads(el_file.read_text())
    stranger["report_id"] = "R-NEVER-INGESTED"
    (tmp_path / "stranger.json").write_text(json.dumps(stranger))
    result = runner.invoke(app, ["verify", str(tmp_path / "stranger.json"), "--json"])
    codes = {(f["reason"] or {}).get("code") for f in json.loads(result.output)["fragments"]}
    assert result.exit_code == 2 and "NOT_ANCHORED" in codes

    certs = tmp_path / "certs"
    out = ok("certificate", ids[0], "--lang", "vi,th,km", "--out", str(certs))
    assert "1 certificate(s), anchored in 0x" in out
    (pdf,) = certs.glob("*.pdf")
    assert json.loads(ok("verify", str(pdf), "--json"))["valid"] is True
    import pikepdf

    with pikepdf.open(pdf, allow_overwriting_input=True) as doc:  # the embedded credential edited
        embedded = json.loads(doc.attachments["credential.json"].get_file().read_bytes())
        embedded["credential"]["credentialSubject"]["item"]["lot"] = "LOT-OTHER"
        doc.attachments["credential.json"] = pikepdf.AttachedFileSpec(doc, json.dumps(embedded).encode())
        doc.save(pdf)
    result = runner.invoke(app, ["verify", str(pdf), "--json"])
    assert result.exit_code == 2 and "DIGEST_MISMATCH" in result.output
    assert runner.invoke(app, ["certificate", ids[0], "--lang", "xx"]).exit_code == 1

    ok("revoke", ids[1], "--reason", "specimen mix-up")
    result = runner.invoke(app, ["verify", ids[1], "--json"])
    assert result.exit_code == 2
    assert "REVOKED" in {(f["reason"] or {}).get("code") for f in json.loads(result.output)["fragments"]}

    bad = records / "bad.json"
    raw = json.loads(next(records.glob("xrf*.json")).read_text())
    raw["results"]["elements"][0]["unit"] = "ppm"
    del raw["checker_id"]
    bad.write_text(json.dumps(raw))
    result = runner.invoke(app, ["ingest", str(bad)])
    assert result.exit_code == 1
    assert "results.elements.0.unit: INVALID_VALUE" in result.output and "checker_id: MISSING_FIELD" in result.output


def test_recall_commands_unlock_a_confidential_lot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QLEDGER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("QLEDGER_CHAIN_URL", raising=False)
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, result.output
        return result.output

    run("init")
    records = tmp_path / "records"
    run("example", "el_image", "--out-dir", str(records))
    (path,) = records.glob("*.json")
    raw = json.loads(path.read_text())
    raw["confidentiality"], raw["subject"]["lot"] = "confidential", "LOT-CLI"
    path.write_text(json.dumps(raw))
    out = run("ingest", str(records))
    record_id = next(line.split(": ")[1].split()[0] for line in out.splitlines() if ".json: " in line)

    assert "the chain refused it: FORBIDDEN" in run(
        "recall", "open", "--lot", "LOT-CLI", "--reason", "x", "--as", "LAB-SZ", code=1
    )
    assert "recall 1: confirmed" in run("recall", "open", "--lot", "LOT-CLI", "--reason", "field failures")
    for agent in ("ESCROW-1", "ESCROW-2"):
        assert "1 release(s) posted" in run("agent", "run", agent, "--once")
    out_dir = tmp_path / "unlocked"
    early = run("recall", "decrypt", "1", "--out", str(out_dir), code=2)  # two releases of three: nothing opens
    assert "0 record(s) decrypted" in early and "2 share(s), 3 needed" in early
    assert "1 release(s) posted" in run("agent", "run", "ESCROW-3", "--once")
    assert "0 release(s) posted" in run("agent", "run", "ESCROW-3", "--once")  # restarted: nothing twice
    assert "1 record(s) decrypted, 1 verified" in run("recall", "decrypt", "1", "--out", str(out_dir))
    assert json.loads((out_dir / record_id / "record.json").read_text())["subject"]["lot"] == "LOT-CLI"
    assert (out_dir / record_id / raw["attachments"][0]["name"]).read_bytes()[:4] == b"\x89PNG"
    status = run("recall", "status", "1")
    assert "confirmed" in status and status.count("ESCROW-") == 3
    run("recall", "close", "1", "--reason", "done")
    assert "closed" in run("recall", "status", "1")

    reports = tmp_path / "reports"
    year = raw["measured_at"][:4]
    out = run("report", "--period", year, "--format", "json,ixbrl", "--out", str(reports), "--framework", "sasb")
    assert "Product recalls issued" in out and f"esg-{year}.xhtml" in out
    doc = json.loads((reports / f"esg-{year}.json").read_text())
    assert list(doc["frameworks"]) == ["sasb"] and doc["metrics"]["recalls"]["value"] == 1
    assert "unknown framework" in run("report", "--framework", "ifrs", code=1)

    # AI inspection: the model runs only once its card is anchored; rules act on the decisions.
    import shutil

    import elpv_dataset

    cells = tmp_path / "cells"
    cells.mkdir()
    for png in sorted((Path(elpv_dataset.__file__).parent / "data" / "images").glob("*.png"))[:12]:
        shutil.copy(png, cells / png.name)
    assert "no anchored model card" in run("inspect", str(cells), "--model", "elpv-defect", code=1)
    from inference_bridge import registry

    run("model", "register", str(registry.DEMO_CARD))
    version = json.loads(registry.DEMO_CARD.read_text())["version"]
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - name: any-failure\n    when: {decision: fail, count: 1, per: lot}\n    then: [quarantine_lot]\n"
    )
    out = run("inspect", str(cells), "--model", f"elpv-defect@{version}", "--rules", str(rules))
    assert f"12 image(s) with elpv-defect v{version}" in out
    import re

    counts = {k: int(v) for k, v in re.findall(r"'(pass|fail|review)': (\d+)", out)}
    assert sum(counts.values()) == 12
    assert ("rule any-failure: quarantine_lot" in out) == (counts["fail"] > 0)
