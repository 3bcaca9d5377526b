"""Chain side of qledger: the consortium contracts' artifacts and their custom errors."""

from ledger_service.chain.artifacts import CONTRACT_NAMES, ContractArtifact, load_artifact
from ledger_service.chain.revert import decode_revert, error_table, revert_data

__all__ = [
    "CONTRACT_NAMES",
    "ContractArtifact",
    "decode_revert",
    "error_table",
    "load_artifact",
    "revert_data",
]
