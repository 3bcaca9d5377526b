"""The chain client interface: one small surface, several real adapters (embedded EVM, JSON-RPC)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from ledger_service.chain.types import (
    BatchReceipt,
    ConsortiumSpec,
    Deployment,
    Header,
    OnChainStatus,
    Receipt,
)


class ChainClient(ABC):
    """What qledger needs from a consortium chain. Every call that a contract refuses raises
    TransactionReverted with the decoded custom error; a node that cannot be reached raises ChainUnavailable.
    """

    @abstractmethod
    def chain_id(self) -> int: ...

    @abstractmethod
    def is_connected(self) -> bool: ...

    @abstractmethod
    def deploy(self, spec: ConsortiumSpec, deployer: str) -> Deployment:
        """Deploy and bind the three consortium contracts on this chain."""

    @abstractmethod
    def attach(self, deployment: Deployment) -> None:
        """Use contracts deployed earlier."""

    @abstractmethod
    def register_instrument(self, sender: str, instrument_id: bytes, model_digest: bytes) -> Receipt: ...

    @abstractmethod
    def register_calibration(
        self,
        sender: str,
        instrument_id: bytes,
        certificate_id: bytes,
        valid_from: int = 0,
        valid_until: int = 0,
        issuer: str | None = None,
    ) -> Receipt:
        """Register for `sender`'s instrument the calibration of `issuer`'s anchored certificate (its window)."""

    @abstractmethod
    def register_reference_calibration(
        self, sender: str, instrument_id: bytes, certificate_id: bytes, valid_from: int, valid_until: int
    ) -> Receipt:
        """Declare a traceability root: a primary standard of `sender`, which must hold Role.REFERENCE_BODY."""

    @abstractmethod
    def anchor(self, sender: str, record_type: int, header: Header) -> Receipt:
        """Tier A."""

    @abstractmethod
    def anchor_calibration(
        self, sender: str, header: Header, instrument_id: bytes, owner: str, valid_from: int, valid_until: int
    ) -> Receipt:
        """Tier A for a calibration certificate, with the instrument, owner and window it certifies."""

    @abstractmethod
    def anchor_batch(self, sender: str, record_type: int, headers: Sequence[Header]) -> BatchReceipt:
        """Tier B: headers in any order; the client sorts them and builds the compact tables."""

    @abstractmethod
    def anchor_root(self, sender: str, record_ids: Sequence[bytes], schema: bytes) -> BatchReceipt:
        """Tier C: the client builds the Merkle root of `record_ids` (in the order given)."""

    @abstractmethod
    def revoke(
        self,
        sender: str,
        record_id: bytes,
        reason: bytes,
        root: bytes | None = None,
        proof: Sequence[bytes] = (),
        submitter: str | None = None,
    ) -> Receipt:
        """Revoke `submitter`'s record (the sender's own when None)."""

    @abstractmethod
    def supersede(self, sender: str, record_id: bytes, replacement_id: bytes, reason: bytes) -> Receipt: ...

    @abstractmethod
    def status(
        self,
        record_id: bytes,
        root: bytes | None = None,
        proof: Sequence[bytes] = (),
        submitter: str | None = None,
    ) -> OnChainStatus:
        """`submitter`'s record's status: state is keyed by submitter."""
