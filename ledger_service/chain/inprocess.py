"""The embedded chain: an in-process EVM (py-evm through eth-tester). The default when no chain URL is set."""

from __future__ import annotations

from typing import Any

from web3 import Web3

from ledger_service.chain.web3_client import Web3ChainClient


class InProcessEvmClient(Web3ChainClient):
    """ChainClient over an in-process EVM; accounts are funded from its prefunded test accounts."""

    def __init__(self) -> None:
        # Imported only when the embedded chain is used, as web3 does for its tester provider.
        from eth_tester import EthereumTester, PyEVMBackend
        from web3.providers.eth_tester import EthereumTesterProvider

        self.tester: Any = EthereumTester(PyEVMBackend())
        super().__init__(Web3(EthereumTesterProvider(self.tester)))
        self._faucet = self.tester.get_accounts()[0]

    def fund(self, address: str, wei: int) -> None:
        self.tester.send_transaction(
            {"from": self._faucet, "to": Web3.to_checksum_address(address), "value": wei, "gas": 21_000}
        )
