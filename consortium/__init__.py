"""The consortium's parties beyond the ledger service: escrow agents releasing key shares when a recall is in
force, and regulators opening recalls and unlocking the records they cover (docs/architecture.md section 8). Network
configurations live in `networks/`."""
