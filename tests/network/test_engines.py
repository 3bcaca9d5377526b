"""Where the network's engines are found: an environment variable first, then the version-keyed cache, else an
error that names the install script."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ledger_service.network import engines


def test_override_then_cache_then_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QLEDGER_ENGINES", str(tmp_path / "cache"))
    for var in ("QLEDGER_GETH", "QLEDGER_IPFS", "QLEDGER_IPFS_CLUSTER_SERVICE", "QLEDGER_IPFS_CLUSTER_CTL"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(
        engines.EngineMissing, match=r"kubo-v0\.39\.0/bin/ipfs missing: run bash .ci/install-engines.sh"
    ):
        engines.ipfs_binary()
    cached = tmp_path / "cache" / "ipfs-cluster-v1.1.6" / "bin" / "ipfs-cluster-ctl"
    cached.parent.mkdir(parents=True)
    cached.write_text("#!/bin/sh\n")
    cached.chmod(0o755)
    assert engines.cluster_ctl_binary() == cached
    own = tmp_path / "my-geth"
    own.write_text("#!/bin/sh\n")
    monkeypatch.setenv("QLEDGER_GETH", str(own))
    with pytest.raises(engines.EngineMissing, match="not an executable file"):
        engines.geth_binary()
    own.chmod(0o755)
    assert engines.geth_binary() == own


def test_the_built_engines_report_their_versions() -> None:
    """The binaries the install script built (what every IPFS test runs) are the versions asked for."""
    assert "0.39.0" in subprocess.run([engines.ipfs_binary(), "version"], capture_output=True, text=True).stdout
    cluster = subprocess.run([engines.cluster_service_binary(), "--version"], capture_output=True, text=True)
    assert "1.1.6" in cluster.stdout
    assert "1.1.6" in subprocess.run([engines.cluster_ctl_binary(), "--version"], capture_output=True, text=True).stdout
    geth = subprocess.run([engines.geth_binary(), "version"], capture_output=True, text=True).stdout
    assert "1.13.15" in geth
