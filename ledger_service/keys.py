"""Members' chain keys in the data directory, one file each, readable by the owner only (0600)."""

from __future__ import annotations

import os
from pathlib import Path

from eth_account import Account

from ledger_service.errors import LedgerError


class KeyStore:
    """Private keys under `data_dir/keys/<member>.key`; never logged, never in the repository."""

    def __init__(self, data_dir: str | Path) -> None:
        self.dir = Path(data_dir) / "keys"
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)

    def _path(self, member: str) -> Path:
        if not member or "/" in member or member.startswith("."):
            raise LedgerError(f"invalid member id {member!r}")
        return self.dir / f"{member}.key"

    def get_or_create(self, member: str) -> bytes:
        """The member's key, created on first use."""
        path = self._path(member)
        if path.exists():
            if path.stat().st_mode & 0o077:
                raise LedgerError(f"{path} is readable by others: chmod 600 it")
            return bytes.fromhex(path.read_text().strip())
        key = bytes(Account.create().key)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key.hex())
        return key
