"""Where the consortium network's engines are: geth (clique), Kubo and IPFS Cluster, built by
`.ci/install-engines.sh` into a cache keyed by version (docs/architecture.md section 11).

Each lookup takes an environment override first (QLEDGER_GETH, QLEDGER_IPFS, QLEDGER_IPFS_CLUSTER_SERVICE,
QLEDGER_IPFS_CLUSTER_CTL), then the cache (QLEDGER_ENGINES, default ~/.cache/qledger/engines).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from ledger_service.errors import LedgerError

GETH_VERSION: Final = "v1.13.15"
KUBO_VERSION: Final = "v0.39.0"
CLUSTER_VERSION: Final = "v1.1.6"


class EngineMissing(LedgerError, RuntimeError):
    """An engine binary is neither named by its environment variable nor built in the cache."""


def engines_root() -> Path:
    return Path(os.environ.get("QLEDGER_ENGINES") or Path.home() / ".cache/qledger/engines")


def _binary(env: str, directory: str, name: str) -> Path:
    override = os.environ.get(env)
    if override:
        path = Path(override)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise EngineMissing(f"{env}={override} is not an executable file")
        return path
    path = engines_root() / directory / "bin" / name
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise EngineMissing(f"{path} missing: run bash .ci/install-engines.sh (or set {env})")
    return path


def geth_binary() -> Path:
    return _binary("QLEDGER_GETH", f"geth-{GETH_VERSION}", "geth")


def ipfs_binary() -> Path:
    return _binary("QLEDGER_IPFS", f"kubo-{KUBO_VERSION}", "ipfs")


def cluster_service_binary() -> Path:
    return _binary("QLEDGER_IPFS_CLUSTER_SERVICE", f"ipfs-cluster-{CLUSTER_VERSION}", "ipfs-cluster-service")


def cluster_ctl_binary() -> Path:
    return _binary("QLEDGER_IPFS_CLUSTER_CTL", f"ipfs-cluster-{CLUSTER_VERSION}", "ipfs-cluster-ctl")
