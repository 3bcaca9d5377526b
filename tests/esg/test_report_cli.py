"""`qledger report --pack DIR --customer-pack FILE`: the re-performance pack and the customer-request pack from the
command line, over a real data directory (anvil with its state, the index, the store), as an auditor and a
customer receive them: the pack re-performs offline with its own calculator and carries an audit sample seeded
from the block after the report's anchor; the customer pack's signature and digest check."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from esg_reports import customer
from ledger_service.cli import _runtime, app


def test_report_writes_the_reperformance_and_customer_packs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QLEDGER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("QLEDGER_CHAIN_URL", raising=False)
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args), terminal_width=400)
        assert result.exit_code == code, result.output
        return result.output

    run("init")
    records = tmp_path / "records"
    for kind in ("el_image", "power_measurement", "xrf_analysis"):
        run("example", kind, "--out-dir", str(records))
    run("ingest", str(records))
    year = json.loads(next(records.glob("*.json")).read_text())["measured_at"][:4]
    packed, signed = tmp_path / "pack", tmp_path / "customer" / "vsme.json"
    report = ("report", "--period", year, "--format", "json", "--out", str(tmp_path / "reports"))

    # Refused before anything is written: a customer pack for nobody, a signer without a chain account.
    assert f"{signed}: name the customer" in run(*report, "--customer-pack", str(signed), code=1)
    assert "--signer NOBODY: no chain account" in run(*report, "--pack", str(packed), "--signer", "NOBODY", code=1)
    assert not packed.exists() and not signed.exists()

    out = run(*report, "--pack", str(packed), "--customer-pack", str(signed), "--customer", "Solar Farms GmbH")
    head = json.loads((packed / "pack.json").read_text())
    assert f"report digest anchored in {head['anchor']['tx_hash']}" in out
    assert f"audit sample seeded from block {head['anchor']['block'] + 1}" in out
    assert head["sample"]["seed_block"] == head["anchor"]["block"] + 1 and head["sample"]["record_ids"]
    for rid in head["sample"]["record_ids"]:
        assert (packed / "sample" / f"{rid}.json").is_file() and (packed / "sample" / f"{rid}.bundle.json").is_file()
    check = subprocess.run([sys.executable, str(packed / "reperform.py"), str(packed)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    n = len(head["figures"])
    assert f"{n} of {n} figures agree; sample of {len(head['sample']['record_ids'])}: 0 fault(s)" in check.stdout

    document = json.loads(signed.read_text())
    assert document["pack"]["customer"] == "Solar Farms GmbH" and document["signed_by"] == "LAB-SZ"
    assert document["pack"]["report_sm3"] == head["report_sm3"]  # the same report the auditor re-performs
    assert f"customer-request pack: {signed} (SM3 {document['sm3']}" in out
    with _runtime() as rt:  # the data directory's chain, as the customer's verifier reads it
        assert customer.verify(document, lambda root: rt.service.root_anchored(root, "LAB-SZ")) == []
        assert not rt.service.root_anchored(bytes(32), "LAB-SZ")
    document["pack"]["datapoints"][0]["value"] = 12345
    assert "the pack's SM3 is not the one signed" in customer.verify(document, lambda root: True)
