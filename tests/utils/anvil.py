"""Throwaway anvil nodes for the tests (npm @foundry-rs/anvil-linux-amd64, installed by .ci/install.sh)."""

from __future__ import annotations

from ledger_service.localnode import anvil as anvil_node
from ledger_service.localnode import free_port
from ledger_service.runtime import DEV_FAUCET_KEY as DEV_KEY

__all__ = ["DEV_KEY", "anvil_node", "free_port"]
