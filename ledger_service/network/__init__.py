"""A local consortium network: one chain node per member (geth clique signers), the consortium's contracts on
it, and the production configuration for Besu QBFT generated from the same description; one Kubo node and one
IPFS Cluster peer per member; the engines they run (docs/architecture.md sections 10 and 11)."""
