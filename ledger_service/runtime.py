"""Wire a LedgerService from settings: the one place adapters are chosen."""

from __future__ import annotations

import fcntl
import functools
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from ledger_service.chain import chain_from_url
from ledger_service.chain.types import Deployment
from ledger_service.config import Settings
from ledger_service.index import engine_from_url, migrate, session_factory
from ledger_service.keys import KeyStore
from ledger_service.service import LedgerService
from ledger_service.store import store_from_url

# anvil's first development key funds member accounts on local development chains only.
DEV_FAUCET_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


@dataclass
class Runtime:
    settings: Settings
    service: LedgerService
    keys: KeyStore
    engine: Engine
    certificates: dict[str, str] = field(default_factory=dict)  # instrument -> calibration certificate id


DEPLOYMENT_FILE = "deployment.json"
# What a verifier needs to trust, and nothing else: the chain and the consortium's contracts. Members publish it
# (`qledger init` writes it beside the deployment); `qledger verify --consortium FILE` reads it.
TRUST_FILE = "consortium.json"


def trust_document(deployment: Deployment) -> dict[str, object]:
    return {"format": "qledger-consortium/1", **asdict(deployment)}


def save_deployment(runtime: Runtime, certificates: dict[str, str]) -> None:
    """Remember the consortium's contracts, the members whose keys are in the data directory, and the
    calibration certificate of each instrument."""
    d = runtime.service.chain.deployment
    assert d is not None
    members = sorted(m for m in runtime.service.accounts if m != "deployer")
    doc = {"deployment": asdict(d), "members": members, "certificates": certificates}
    (runtime.settings.data_dir / DEPLOYMENT_FILE).write_text(json.dumps(doc, indent=2) + "\n")
    (runtime.settings.data_dir / TRUST_FILE).write_text(json.dumps(trust_document(d), indent=2) + "\n")


def load_deployment(runtime: Runtime) -> bool:
    """Attach the saved deployment and the members' keys; False when there is none yet."""
    path = runtime.settings.data_dir / DEPLOYMENT_FILE
    if not path.exists():
        return False
    doc = json.loads(path.read_text())
    runtime.certificates = dict(doc.get("certificates", {}))
    runtime.service.chain.attach(Deployment(**doc["deployment"]))
    for member in doc["members"]:
        runtime.service.accounts[member] = runtime.service.chain.add_account(runtime.keys.get_or_create(member))
    return True


ANCHOR_GATE_FILE = "anchor.lock"  # flock: one anchoring pass at a time per data directory (LedgerService.anchor_gate)


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive flock on `path` (made 0600), on a file opened for this holder alone: other processes and
    other threads of this one wait for it; the kernel releases it if the holder dies."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def open_runtime(settings: Settings, faucet_key: str | None = None) -> Runtime:
    """The service for `settings`. `faucet_key` pays for funding members on a development network of one's
    own (`qledger network up`); anvil's development key otherwise."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.data_dir, 0o700)  # keys, the index and confidential plaintext live here: the owner's alone
    if settings.database_url is None:  # SQLite creates its file 0644, and its -wal and -shm files like it
        os.close(os.open(settings.data_dir / "index.db", os.O_CREAT | os.O_WRONLY, 0o600))
    engine = engine_from_url(settings.resolved_database_url())
    migrate(engine)
    faucet = (faucet_key or DEV_FAUCET_KEY) if settings.chain_url else None
    chain = chain_from_url(settings.chain_url, faucet_key=faucet)
    store = store_from_url(
        settings.ipfs_url,
        settings.data_dir,
        cluster_url=settings.ipfs_cluster_url,
        replication=(settings.ipfs_replication_min, settings.ipfs_replication_max),
    )
    keys = KeyStore(settings.data_dir)
    sessions = session_factory(engine, keys.at_rest_key())
    service = LedgerService(
        chain=chain, store=store, sessions=sessions, accounts={}, confirmations=settings.confirmations
    )
    service.anchor_gate = functools.partial(file_lock, settings.data_dir / ANCHOR_GATE_FILE)
    return Runtime(settings, service, keys, engine)
