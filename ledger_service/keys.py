"""Members' keys in the data directory, one file each, readable by the owner only (0600): the chain account's
secp256k1 key (`<member>.key`) and the SM2 key for escrow and recall unlock (`<member>.sm2`); the SM2 signing keys
of the people a lab enrolled (`signers/<lab>/<person>.sm2`, docs/formats.md section 2.1)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from eth_account import Account

from ledger_service.crypto import sm2
from ledger_service.crypto.sm2 import PrivateKey as Sm2PrivateKey
from ledger_service.errors import LedgerError


class KeyStore:
    """Private keys under `data_dir/keys/<member>.key`; never logged, never in the repository."""

    def __init__(self, data_dir: str | Path) -> None:
        self.dir = Path(data_dir) / "keys"
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)

    def _path(self, member: str, suffix: str = "key") -> Path:
        if not member or "/" in member or member.startswith("."):
            raise LedgerError(f"invalid member id {member!r}")
        return self.dir / f"{member}.{suffix}"

    def get_or_create(self, member: str) -> bytes:
        """The member's chain key, created on first use."""
        return self._get_or_create(self._path(member), lambda: bytes(Account.create().key))

    def sm2(self, member: str) -> sm2.PrivateKey:
        """The member's SM2 key (escrow shares are encrypted to it), created on first use."""
        return sm2.PrivateKey.from_bytes(
            self._get_or_create(self._path(member, "sm2"), lambda: sm2.PrivateKey.generate().to_bytes())
        )

    def issuer_ed25519(self, member: str) -> bytes:
        """The member's Ed25519 credential signing key (seed), created on first use (docs/formats.md 9.1)."""
        return self._get_or_create(self._path(member, "ed25519"), lambda: os.urandom(32))

    def issuer_sm2(self, member: str) -> Sm2PrivateKey:
        """The member's SM2 credential signing key (not its escrow key: one key, one use)."""
        path = self._path(member, "sm2-sign")
        return Sm2PrivateKey.from_bytes(self._get_or_create(path, lambda: Sm2PrivateKey.generate().to_bytes()))

    def signer(self, lab: str, person: str, create: bool = True) -> Sm2PrivateKey:
        """The SM2 signing key of a person enrolled by `lab`, created on first use when `create`."""
        path = self._signer_path(lab, person)
        if not create and not path.exists():
            raise LedgerError(f"{person} of {lab} holds no signing key here (enrol them first)")
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        return Sm2PrivateKey.from_bytes(self._get_or_create(path, lambda: Sm2PrivateKey.generate().to_bytes()))

    def holds_signer(self, lab: str, person: str) -> bool:
        return self._signer_path(lab, person).exists()

    def retire_signer(self, lab: str, person: str) -> None:
        """Remove a withdrawn signer's key: nobody signs with it again."""
        self._signer_path(lab, person).unlink(missing_ok=True)

    def _signer_path(self, lab: str, person: str) -> Path:
        for part in (lab, person):
            if not part or "/" in part or part.startswith(".") or "\\" in part:
                raise LedgerError(f"invalid id {part!r}")
        return self.dir / "signers" / lab / f"{person}.sm2"

    def at_rest_key(self) -> bytes:
        """The SM4 key that seals confidential records in this data directory's index, created on first use."""
        return self._get_or_create(self.dir / "index-at-rest.sm4", lambda: os.urandom(16))

    @staticmethod
    def _get_or_create(path: Path, create: Callable[[], bytes]) -> bytes:
        if path.exists():
            if path.stat().st_mode & 0o077:
                raise LedgerError(f"{path} is readable by others: chmod 600 it")
            return bytes.fromhex(path.read_text().strip())
        key = create()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key.hex())
        return key
