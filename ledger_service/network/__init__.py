"""A local consortium network: engines, chain nodes and IPFS peers per member (docs/architecture.md)."""
