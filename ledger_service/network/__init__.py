"""A local consortium network: one chain node per member (geth clique signers), the consortium's contracts on
it, and the production configuration for Besu QBFT generated from the same description
(docs/architecture.md section 10)."""
