"""Chain side of qledger: the consortium contracts, their custom errors, and the ChainClient adapters."""

from ledger_service.chain.artifacts import CONTRACT_NAMES, ContractArtifact, load_artifact
from ledger_service.chain.auto import chain_from_url
from ledger_service.chain.base import ChainClient
from ledger_service.chain.revert import ERROR_CODES, decode_revert, error_table, revert_data
from ledger_service.chain.types import (
    Accreditation,
    BatchReceipt,
    ConsortiumSpec,
    Deployment,
    Founder,
    Header,
    OnChainStatus,
    Receipt,
    Role,
    Tier,
)
from ledger_service.chain.web3_client import Web3ChainClient

__all__ = [
    "CONTRACT_NAMES",
    "ERROR_CODES",
    "Accreditation",
    "BatchReceipt",
    "ChainClient",
    "ConsortiumSpec",
    "ContractArtifact",
    "Deployment",
    "Founder",
    "Header",
    "OnChainStatus",
    "Receipt",
    "Role",
    "Tier",
    "Web3ChainClient",
    "chain_from_url",
    "decode_revert",
    "error_table",
    "load_artifact",
    "revert_data",
]
