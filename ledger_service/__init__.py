"""qledger: quality records validated, SM3-hashed, pinned and anchored on a permissioned EVM chain."""

__version__ = "0.1.0"
