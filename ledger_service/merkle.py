"""Record Merkle trees, as `contracts/common/RecordMerkle.sol` builds and checks them.

leaf = keccak256(record SM3 digest); node = keccak256 of the sorted pair; a level with an odd count carries
its last node up unchanged. Pure functions: tier B roots computed here equal the ones the contract builds.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from eth_utils.crypto import keccak


def leaf(record_id: bytes) -> bytes:
    """Leaf value of a 32-byte record digest."""
    if len(record_id) != 32:
        raise ValueError(f"a record id is 32 bytes, got {len(record_id)}")
    return keccak(record_id)


@lru_cache(maxsize=1 << 16)  # proofs of one batch share their upper nodes: verifying a batch hashes each once
def _node(a: bytes, b: bytes) -> bytes:
    return keccak(a + b) if a < b else keccak(b + a)


def levels(record_ids: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the tree, leaves first, root last."""
    if not record_ids:
        raise ValueError("a Merkle tree needs at least one record")
    out = [[leaf(r) for r in record_ids]]
    while len(out[-1]) > 1:
        level = out[-1]
        nxt = [_node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        out.append(nxt)
    return out


def root(record_ids: Sequence[bytes]) -> bytes:
    """Merkle root over `record_ids`, in the order given."""
    return levels(record_ids)[-1][0]


def proof(record_ids: Sequence[bytes], index: int) -> list[bytes]:
    """Sibling hashes from the leaf at `index` up to the root."""
    if not 0 <= index < len(record_ids):
        raise IndexError(f"no record at index {index}")
    out: list[bytes] = []
    for level in levels(record_ids)[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            out.append(level[sibling])
        index >>= 1
    return out


def proofs(record_ids: Sequence[bytes]) -> list[list[bytes]]:
    """Every leaf's proof, building the tree once (a batch's proofs in O(n log n), not O(n^2))."""
    tree = levels(record_ids)[:-1]
    out: list[list[bytes]] = []
    for index in range(len(record_ids)):
        path, i = [], index
        for level in tree:
            if (i ^ 1) < len(level):
                path.append(level[i ^ 1])
            i >>= 1
        out.append(path)
    return out


def verify(record_id: bytes, proof_: Sequence[bytes], root_: bytes) -> bool:
    """Whether `proof_` places `record_id` under `root_`."""
    h = leaf(record_id)
    for sibling in proof_:
        h = _node(h, sibling)
    return h == root_
