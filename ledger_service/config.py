"""Typed settings, from the environment (QLEDGER_*) or arguments."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where qledger keeps its state and which services it talks to. Unset URLs mean the embedded default."""

    model_config = SettingsConfigDict(env_prefix="QLEDGER_")

    data_dir: Path = Path("qledger-data")
    chain_url: str | None = None  # None: embedded in-process EVM; else an EVM JSON-RPC URL
    ipfs_url: str | None = None  # None: embedded block store in data_dir/ipfs; else Kubo RPC URL(s), comma-separated
    # IPFS Cluster REST URL(s), comma-separated: content is pinned through the cluster on several members' nodes
    # (ipfs_url then lists the Kubo nodes to add to and read from); docs/architecture.md.
    ipfs_cluster_url: str | None = None
    ipfs_replication_min: int = Field(default=2, ge=1)
    ipfs_replication_max: int = Field(default=3, ge=1)
    database_url: str | None = None  # None: SQLite at data_dir/index.db
    # Blocks on top of an anchor's block before it is final, no longer compared with the chain (service.py
    # CONFIRMATIONS; docs/architecture.md section 4).
    confirmations: int = Field(default=12, ge=0)
    # The public address `qledger serve` is reached at (behind its reverse proxy, say): what `qledger init`
    # writes into profile.json as the verification URL that certificates' QR codes open (docs/formats.md 9.2).
    public_url: str | None = Field(default=None, pattern=r"^https?://[^\s]{1,200}$")

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'index.db'}"
