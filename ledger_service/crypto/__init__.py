"""Chinese commercial cryptography used for confidential records: SM2 (GB/T 32918) signatures and public-key
encryption, SM4-GCM (GB/T 32907) payload encryption, and Shamir secret sharing over GF(2^128) for escrowed data
keys. SM3 lives in ledger_service.digests."""
