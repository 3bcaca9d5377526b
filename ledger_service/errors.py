"""The one root of qledger's exceptions; every leaf says when it is raised."""

from __future__ import annotations

from typing import Any


class LedgerError(Exception):
    """Root of every error qledger raises on purpose."""


class UnknownEntry(LedgerError, LookupError):
    """No such member, instrument or record."""


class StoreError(LedgerError):
    """The content store failed."""


class ContentNotFound(StoreError, KeyError):
    """No content with the requested CID is stored."""


class StoreUnavailable(StoreError):
    """The content store (an IPFS node) could not be reached; the call may be retried."""


class ChainError(LedgerError):
    """The chain could not be used: a node down, a deployment missing, an artifact unreadable."""


class ChainUnavailable(ChainError):
    """The chain node could not be reached or did not answer in time; the call may be retried."""


class TransactionAbandoned(ChainError):
    """A prepared transaction can never be mined: its nonce went to another transaction."""


class TransactionFailed(ChainError):
    """A transaction was mined but failed on chain: its nonce is spent and it changed nothing."""


class TransactionReverted(ChainError):
    """A contract refused a call; `name` and `arguments` are its decoded custom error (EIP-6093 style) and
    `code` the stable qledger code it maps to (the same codes the API and CLI report).
    """

    def __init__(self, name: str, arguments: dict[str, Any], selector: str, code: str = "CHAIN_REFUSED") -> None:
        self.name = name
        self.arguments = arguments
        self.selector = selector
        self.code = code
        shown = ", ".join(f"{k}={_show(v)}" for k, v in arguments.items())
        super().__init__(f"{name}({shown})")


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)


class EscrowMisconfigured(LedgerError):
    """The escrow policy, a regulator or a recall's record list is missing or does not match."""
