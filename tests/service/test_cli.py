"""The CLI across separate commands: the chain (anvil --state), index and store persist in the data directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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

    stray = tmp_path / "stray.json"
    stray.write_text("{}")
    refused = runner.invoke(app, ["ingest", str(stray)])
    assert refused.exit_code == 1 and "qledger init" in refused.output
    assert not (tmp_path / "data").exists()  # a failing command leaves no empty data directory behind
    ok("init")
    assert (tmp_path / "data" / "profile.json").stat().st_mode & 0o777 == 0o600
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

    # A record file with its attachment: checked by SM3; a changed image is caught; an unknown record is not placed.
    el_file = tmp_path / "el-record.json"  # the record as stored (its attachments named by their digests)
    el_id = next(i for i in ids if json.loads(ok("verify", i, "--json"))["fragments"][1]["status"] == "VALID")
    ok("proof", el_id, "--out", str(tmp_path / "el-bundle.json"))
    el_file.write_text(json.dumps(json.loads((tmp_path / "el-bundle.json").read_text())["record"]))
    image = next(records.glob("*.png"))
    assert json.loads(ok("verify", str(el_file), "--attach", str(image), "--json"))["valid"] is True
    image.write_bytes(image.read_bytes()[:-1] + b"\x00")
    result = runner.invoke(app, ["verify", str(el_file), "--attach", str(image), "--json"])
    codes = {(f["reason"] or {}).get("code") for f in json.loads(result.output)["fragments"]}
    assert result.exit_code == 3 and "ATTACHMENT_DIGEST_MISMATCH" in codes
    stranger = json.loads(el_file.read_text())
    stranger["report_id"] = "R-NEVER-INGESTED"
    (tmp_path / "stranger.json").write_text(json.dumps(stranger))
    result = runner.invoke(app, ["verify", str(tmp_path / "stranger.json"), "--json"])
    codes = {(f["reason"] or {}).get("code") for f in json.loads(result.output)["fragments"]}
    # Never ingested: no anchor given, none on chain by its lab; it may be batched, so "could not tell" (4).
    assert result.exit_code == 4 and "ANCHOR_NOT_GIVEN" in codes

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
    assert result.exit_code == 3 and "DIGEST_MISMATCH" in result.output
    assert runner.invoke(app, ["certificate", ids[0], "--lang", "xx"]).exit_code == 1

    ok("revoke", ids[1], "--reason", "specimen mix-up")
    result = runner.invoke(app, ["verify", ids[1], "--json"])
    assert result.exit_code == 3
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
    early = run("recall", "decrypt", "1", "--out", str(out_dir), code=3)  # two releases of three: nothing opens
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


def test_cli_behaves_like_a_mature_tool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file checked and named, --dry-run, --json, PENDING status, id prefixes, exit codes, keys, and
    verification by URL with no data directory."""
    from ledger_service.localnode import local_chain
    from ledger_service.runtime import TRUST_FILE

    data = tmp_path / "data"
    monkeypatch.setenv("QLEDGER_DATA_DIR", str(data))
    monkeypatch.delenv("QLEDGER_CHAIN_URL", raising=False)
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> Any:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, result.output
        return result

    assert run("status", "0123456789abcdef", code=1).output.count("qledger init") == 1
    assert not data.exists()
    with local_chain(data) as url:  # one node for the whole test; every command finds it through chain/node.url
        run("init")
        recs = tmp_path / "recs"
        for kind in ("el_image", "xrf_analysis", "tensile_test"):
            run("example", kind, "--out-dir", str(recs))
        good = sorted(recs.glob("*.json"))
        broken = json.loads(good[1].read_text())
        del broken["operator"]
        (recs / "b-broken.json").write_text(json.dumps(broken))
        (recs / "c-not-json.json").write_text("{not json")
        with_missing_file = json.loads(good[0].read_text())
        with_missing_file["attachments"][0]["file"] = "gone.png" if with_missing_file["attachments"] else "x"
        (recs / "d-missing-file.json").write_text(json.dumps(with_missing_file))

        checked = run("ingest", str(recs), "--dry-run", "--json", code=1)
        lines = [json.loads(line) for line in checked.stdout.splitlines()]
        assert {line["file"] for line in lines} == {str(p) for p in sorted(recs.glob("*.json"))}
        assert sum(line["status"] == "valid" for line in lines) == 3
        assert f"{recs / 'b-broken.json'}: operator: MISSING_FIELD - " in checked.stderr
        assert f"{recs / 'c-not-json.json'}: (record): NOT_JSON - " in checked.stderr
        assert f"{recs / 'd-missing-file.json'}: attachments.0.file: FILE_NOT_FOUND - " in checked.stderr
        dry_ids = {line["file"]: line["record_id"] for line in lines if line["status"] == "valid"}
        assert run("status", next(iter(dry_ids.values())), code=1).output.startswith("error: no record")  # nothing kept

        ingested = run("ingest", str(recs), "--json", code=1)  # the refused files do not stop the others
        lines = [json.loads(line) for line in ingested.stdout.splitlines()]
        accepted = {line["file"]: line["record_id"] for line in lines if line["status"] == "accepted"}
        assert accepted == dry_ids  # the dry run named the ids that ingest gave
        assert "anchored 3 record(s)" in ingested.stderr and "3 record file(s) refused" in ingested.stderr

        record_id = next(iter(accepted.values()))
        state = json.loads(run("status", record_id[:12], "--json").stdout)  # a prefix is enough
        assert state["record_id"] == record_id and state["state"] == "ANCHORED" and state["tx_hash"].startswith("0x")
        assert state["tier"] in "ABC" and state["block_number"] > 0 and state["cid"].startswith("bafk")
        statuses = {f["name"]: f["status"] for f in state["fragments"]}
        not_applicable = {"OperatorSignature", "CertificateTerms"}  # no signature yet; not a certificate
        assert all(v == "VALID" for k, v in statuses.items() if k not in not_applicable), statuses
        assert {statuses[k] for k in not_applicable} == {"SKIPPED"}
        assert json.loads(run("status", "0x" + record_id.upper(), "--json").stdout)["record_id"] == record_id
        assert "not a record id" in run("status", "abc", code=1).output

        from ledger_service.config import Settings
        from ledger_service.runtime import load_deployment, open_runtime
        from ledger_service.station import Station, example_record, load_profile

        settings = Settings(data_dir=data, chain_url=url)
        runtime = open_runtime(settings)
        load_deployment(runtime)
        profile = load_profile(data)
        assert profile is not None
        import random

        station = Station(profile.station("LAB-SZ")).load_calibrations(runtime.service, runtime.certificates)
        pending = runtime.service.submit(
            example_record(station, "xrf_analysis", 7, random.Random(7))[0], actor="LAB-SZ"
        )
        runtime.engine.dispose()
        waiting = run("status", pending.record_id)
        assert "PENDING" in waiting.stdout and "INVALID" not in waiting.stdout and "ChainAnchor" not in waiting.stdout
        assert json.loads(run("status", pending.record_id, "--json").stdout)["state"] == "PENDING"

        # Exit codes: 0 valid, 3 not valid, 4 could not tell (node unreachable), 2 usage.
        bundle = tmp_path / "bundle.json"
        run("proof", record_id[:16], "--out", str(bundle))
        assert json.loads(run("verify", str(bundle), "--json").stdout)["valid"] is True
        edited = json.loads(bundle.read_text())
        edited["record"]["report_id"] = "R-EDITED"
        (tmp_path / "edited.json").write_text(json.dumps(edited))
        run("verify", str(tmp_path / "edited.json"), code=3)
        dead = "http://127.0.0.1:9"  # nothing listens on the discard port
        undetermined = run("verify", str(bundle), "--rpc", dead, "--json", code=4)
        assert {f["status"] for f in json.loads(undetermined.stdout)["fragments"]} >= {"ERROR"}
        run("verify", code=2)

        # Keys: issued, listed by id only, revoked once.
        first, second = run("keys", "issue", "MFR-DM").stdout.strip(), run("keys", "issue", "MFR-DM").stdout.strip()
        listed = [json.loads(line) for line in run("keys", "list", "--member", "MFR-DM", "--json").stdout.splitlines()]
        assert len(listed) == 2 and first not in json.dumps(listed) and second not in json.dumps(listed)
        key_id = listed[0]["key_id"]
        assert f"revoked API key {key_id} of MFR-DM" in run("keys", "revoke", key_id).stdout
        assert "revoked already" in run("keys", "revoke", key_id, code=1).output
        assert "no API key" in run("keys", "revoke", listed[1]["key_id"], "--member", "LAB-SZ", code=1).output
        states = {
            k["key_id"]: k["revoked_at"] for k in map(json.loads, run("keys", "list", "--json").stdout.splitlines())
        }
        assert states[key_id] is not None and states[listed[1]["key_id"]] is None

        # The audit trail: intact, then rewritten behind the service's back.
        assert "audit trail intact" in run("audit", "verify").stdout
        import sqlite3

        with sqlite3.connect(data / "index.db") as db:
            db.execute("REPLACE INTO audit_trail (id, at, actor, action) VALUES (2, '2026-01-01 00:00:00', 'x', 'y')")
        db.close()
        assert "entry 2: ENTRY_ALTERED" in run("audit", "verify", code=3).stderr

        # Verification by URL alone: no data directory read or made, no advice to found a consortium.
        elsewhere = tmp_path / "nowhere"
        monkeypatch.setenv("QLEDGER_DATA_DIR", str(elsewhere))
        refused = run("verify", str(bundle), code=1)
        assert "--rpc" in refused.output and "init" not in refused.output
        # Without the consortium's trust anchor a verifier cannot tell genuine contracts from a copy: exit 4.
        untrusted = json.loads(run("verify", str(bundle), "--rpc", url, "--json", code=4).stdout)
        assert untrusted["valid"] is False
        assert {f["name"]: f["reason"] for f in untrusted["fragments"]}["ConsortiumContracts"][
            "code"
        ] == "NO_TRUST_ANCHOR"
        trust = data / TRUST_FILE
        assert json.loads(run("verify", str(bundle), "--rpc", url, "--consortium", str(trust), "--json").stdout)[
            "valid"
        ]
        monkeypatch.setenv("QLEDGER_DATA_DIR", str(data))
        certs = tmp_path / "certs"
        run("certificate", record_id, "--out", str(certs))
        (pdf,) = certs.glob("*.pdf")
        monkeypatch.setenv("QLEDGER_DATA_DIR", str(elsewhere))
        assert json.loads(run("verify", str(pdf), "--rpc", url, "--json", code=4).stdout)["valid"] is False
        by_trust = run("verify", str(pdf), "--rpc", url, "--consortium", str(trust), "--json")
        assert json.loads(by_trust.stdout)["valid"] is True
        assert not elsewhere.exists()


def test_version_and_help_answer_without_heavy_imports() -> None:
    import subprocess
    import sys
    import time

    from ledger_service import __version__

    probe = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from ledger_service.cli import app\n"
        "assert CliRunner().invoke(app, ['--help']).exit_code == 0\n"
        "heavy = ('web3', 'sqlalchemy', 'weasyprint', 'onnxruntime', 'eth_tester', 'cv2', 'fastapi', 'numpy')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    version = subprocess.run(
        [sys.executable, "-m", "ledger_service.cli", "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.strip() == f"qledger {__version__}"
    times = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ledger_service.cli", "--help"], capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    assert min(times) < 1.0, times


def test_the_cli_enforces_the_apis_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Submit as yourself, accredited types only, revoke your own (or for cause): the same rules module as the
    API (ledger_service/rules.py), so the CLI is no way around them."""
    monkeypatch.setenv("QLEDGER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("QLEDGER_CHAIN_URL", raising=False)
    runner = CliRunner()
    assert runner.invoke(app, ["init"]).exit_code == 0
    recs = tmp_path / "recs"
    assert runner.invoke(app, ["example", "xrf_analysis", "--out-dir", str(recs)]).exit_code == 0
    (path,) = recs.glob("*.json")
    as_other = runner.invoke(app, ["ingest", str(path), "--member", "CAL-NIM"])
    assert as_other.exit_code == 1 and f"{path}: lab.member_id: WRONG_MEMBER - " in as_other.stderr
    raw = json.loads(path.read_text())
    raw["lab"]["member_id"] = "MFR-DM"
    (recs / "as-mfr.json").write_text(json.dumps(raw))
    path.unlink()
    unaccredited = runner.invoke(app, ["ingest", str(recs / "as-mfr.json"), "--member", "MFR-DM"])
    assert unaccredited.exit_code == 1 and "record_type: NOT_ACCREDITED - " in unaccredited.stderr
    assert runner.invoke(app, ["example", "tensile_test", "--out-dir", str(tmp_path / "t")]).exit_code == 0
    out = runner.invoke(app, ["ingest", str(tmp_path / "t"), "--json"])
    record_id = json.loads(out.stdout.splitlines()[0])["record_id"]
    refused = runner.invoke(app, ["revoke", record_id, "--reason", "x", "--member", "MFR-DM"])
    assert refused.exit_code == 1 and "only the record's owner, a regulator or an auditor" in refused.output
    assert runner.invoke(app, ["revoke", record_id, "--reason", "for cause"]).exit_code == 0  # the regulator


def test_operators_enrol_sign_withdraw_and_the_signature_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`qledger operators enrol|withdraw` and `qledger sign`; a record type the lab's profile requires operator
    signatures on is refused at ingest unsigned (rules.check_signatures, the API's rule too); `qledger init`
    takes its verification URL from QLEDGER_PUBLIC_URL, the address `qledger serve` is reached at."""
    data = tmp_path / "data"
    monkeypatch.setenv("QLEDGER_DATA_DIR", str(data))
    monkeypatch.setenv("QLEDGER_PUBLIC_URL", "https://verify.lab.test")
    monkeypatch.delenv("QLEDGER_CHAIN_URL", raising=False)
    runner = CliRunner()
    founded = runner.invoke(app, ["init"])
    assert founded.exit_code == 0, founded.output
    assert "certificates' QR codes open https://verify.lab.test/v1/certificates/<record id>" in founded.output
    profile = json.loads((data / "profile.json").read_text())
    assert profile["verification_url"] == "https://verify.lab.test"
    profile["stations"]["LAB-SZ"]["signed_record_types"] = ["xrf_analysis"]
    (data / "profile.json").write_text(json.dumps(profile))

    recs = tmp_path / "recs"
    assert runner.invoke(app, ["example", "xrf_analysis", "--out-dir", str(recs)]).exit_code == 0
    (path,) = recs.glob("*.json")
    unsigned = runner.invoke(app, ["ingest", str(path)])
    assert unsigned.exit_code == 1 and f"{path}: signatures: SIGNATURE_REQUIRED - " in unsigned.stderr
    checker = json.loads(path.read_text())["checker_id"]
    reviewed = runner.invoke(app, ["sign", str(path), "--meaning", "reviewed"])  # the checker's: not enough
    assert reviewed.exit_code == 0 and f"signed by {checker} (reviewed)" in reviewed.output
    assert "SIGNATURE_REQUIRED" in runner.invoke(app, ["ingest", str(path)]).stderr
    operator = json.loads(path.read_text())["operator"]["id"]
    signed = runner.invoke(app, ["sign", str(path)])
    assert signed.exit_code == 0 and f"signed by {operator} (performed)" in signed.output
    entries = json.loads(path.read_text())["signatures"]
    assert [(e["signer"], e["meaning"]) for e in entries] == [(checker, "reviewed"), (operator, "performed")]
    ingested = runner.invoke(app, ["ingest", str(path), "--json"])
    assert ingested.exit_code == 0, ingested.output
    record_id = json.loads(ingested.stdout.splitlines()[0])["record_id"]
    state = json.loads(runner.invoke(app, ["status", record_id, "--json"]).stdout)
    assert {f["name"]: f["status"] for f in state["fragments"]}["OperatorSignature"] == "VALID"
    # Several certificate PDFs verified as one batch: a line each, the worst verdict's exit code.
    pdfs = []
    for out in ("c1", "c2"):
        issued = runner.invoke(app, ["certificate", record_id, "--lang", "vi", "--out", str(tmp_path / out)])
        assert issued.exit_code == 0, issued.output
        pdfs += sorted((tmp_path / out).glob("*.pdf"))
    batch = runner.invoke(app, ["verify", *map(str, pdfs), "--json"])
    assert batch.exit_code == 0, batch.output
    lines = [json.loads(line) for line in batch.stdout.splitlines()]
    assert [(x["id"], x["valid"]) for x in lines] == [(str(p), True) for p in pdfs]
    assert {f["name"]: f["status"] for f in lines[0]["fragments"]}["RecordStatus"] == "VALID"
    damaged = tmp_path / "damaged.pdf"
    damaged.write_bytes(pdfs[0].read_bytes()[:-300])
    mixed = runner.invoke(app, ["verify", str(pdfs[0]), str(damaged), "--json"])
    assert mixed.exit_code == 3 and [json.loads(x)["valid"] for x in mixed.stdout.splitlines()] == [True, False]

    enrolled = runner.invoke(app, ["operators", "enrol", "op-carol"])
    assert enrolled.exit_code == 0 and "enrolled op-carol of LAB-SZ: SM2 key 04" in enrolled.output
    key = data / "keys" / "signers"
    assert [p.stat().st_mode & 0o777 for p in key.rglob("*op-carol*")] == [0o600]
    withdrawn = runner.invoke(app, ["operators", "withdraw", "op-carol", "--reason", "left the lab"])
    assert withdrawn.exit_code == 0 and "withdrew op-carol of LAB-SZ" in withdrawn.output
    assert not list(key.rglob("*op-carol*"))
    assert runner.invoke(app, ["example", "xrf_analysis", "--out-dir", str(tmp_path / "r2")]).exit_code == 0
    (other,) = (tmp_path / "r2").glob("*.json")
    refused = runner.invoke(app, ["sign", str(other), "--as", "op-carol"])
    assert refused.exit_code == 1 and refused.stderr.count("\n") == 1
    assert refused.stderr.startswith(f"error: {other}: op-carol of LAB-SZ holds no signing key")
