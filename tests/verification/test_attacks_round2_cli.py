"""Second attack round, through `qledger verify` itself (docs/threat-model.md): the batch of certificate PDFs
(`qledger verify A.pdf B.pdf`) must refuse what one PDF is refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from esg_reports import certificates
from ledger_service.cli import app
from ledger_service.config import Settings
from ledger_service.demo import LAB, Demo
from ledger_service.runtime import Runtime, save_deployment, trust_document
from tests.utils.anvil import anvil_node
from tests.utils.verifying import calibrated_consortium


def _consortium(url: str, data: Path) -> tuple[Runtime, Demo, Path]:
    runtime, demo = calibrated_consortium(Settings(data_dir=data, chain_url=url))
    deployment = runtime.service.chain.deployment
    assert deployment is not None
    trust = data / "consortium.json"
    trust.write_text(json.dumps(trust_document(deployment)))
    return runtime, demo, trust


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Runtime, Demo]]:
    with anvil_node() as url:
        genuine, _, trust = _consortium(url, tmp_path_factory.mktemp("genuine"))
        forger, demo, _ = _consortium(url, tmp_path_factory.mktemp("forger"))  # its own copy, same chain
        yield url, trust, forger, demo
        for r in (genuine, forger):
            r.engine.dispose()


def test_a_batch_of_pdfs_never_vouches_for_another_consortium(
    two: tuple[str, Path, Runtime, Demo], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The forger's data directory, two of its own certificates and the genuine consortium's trust file: one
    PDF is refused naming the trust file (a data directory reads its own consortium's contracts); two PDFs
    verified VALID, exit 0, the trust file ignored."""
    url, trust, forger, demo = two
    ids = [forger.service.submit(*demo.record("xrf_analysis", 40 + i), actor=LAB).record_id for i in range(2)]
    forger.service.anchor_pending()
    issued = certificates.issue(forger.service, ids, ["en"], "https://verify.forger.test", keys=forger.keys)
    paths = []
    for i, cert in enumerate(issued):
        paths.append(tmp_path / f"forged-{i}.pdf")
        paths[-1].write_bytes(cert.pdf)
    save_deployment(forger, demo.station.certificates)  # a data directory the CLI opens
    monkeypatch.setenv("QLEDGER_DATA_DIR", str(forger.settings.data_dir))
    monkeypatch.setenv("QLEDGER_CHAIN_URL", url)
    one = CliRunner().invoke(app, ["verify", str(paths[0]), "--consortium", str(trust), "--json"])
    assert one.exit_code == 1 and "consortium.json" in one.output, one.output
    both = CliRunner().invoke(app, ["verify", *map(str, paths), "--consortium", str(trust), "--json"])
    assert both.exit_code == 1 and "consortium.json" in both.output, both.output
    # Held against the genuine consortium by URL: not its certificates (exit 3, INVALID).
    by_url = CliRunner().invoke(app, ["verify", *map(str, paths), "--rpc", url, "--consortium", str(trust), "--json"])
    assert by_url.exit_code == 3, by_url.output
