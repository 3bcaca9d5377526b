// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @title RecordMerkle
/// @notice The Merkle tree shared by tier B (built on chain), tier C (built off chain) and the verifiers.
/// @dev Leaves are `keccak256(abi.encode(recordId))` over the record's SM3 digest; nodes are keccak256 of the
/// sorted pair (OZ {Hashes-commutativeKeccak256}); a level with an odd count carries its last node up unchanged.
/// Hashing the digest once more keeps a leaf (32-byte preimage) from ever equalling an inner node (64-byte
/// preimage), the second-preimage hazard that OZ {MerkleProof} warns about.
library RecordMerkle {
    /// @notice Leaf value of a record digest.
    function leaf(bytes32 recordId) internal pure returns (bytes32 value) {
        assembly ("memory-safe") {
            mstore(0x00, recordId)
            value := keccak256(0x00, 0x20)
        }
    }

    /// @notice Root over `leaves`, computed in place (the array is overwritten).
    /// @dev An empty array yields the zero root, which no anchor accepts.
    function rootInPlace(bytes32[] memory leaves) internal pure returns (bytes32 root) {
        // Assembly: this loop is most of a tier B batch's hashing cost. Indexes stay below `leaves.length`:
        // pair i reads 2i and 2i+1 < n and writes i < n.
        assembly ("memory-safe") {
            let n := mload(leaves)
            let base := add(leaves, 0x20)
            for {} gt(n, 1) {} {
                let half := shr(1, n)
                for { let i := 0 } lt(i, half) { i := add(i, 1) } {
                    let a := mload(add(base, shl(6, i)))
                    let b := mload(add(base, add(shl(6, i), 0x20)))
                    if gt(a, b) {
                        let t := a
                        a := b
                        b := t
                    }
                    mstore(0x00, a)
                    mstore(0x20, b)
                    mstore(add(base, shl(5, i)), keccak256(0x00, 0x40))
                }
                switch and(n, 1)
                case 1 {
                    mstore(add(base, shl(5, half)), mload(add(base, shl(5, sub(n, 1)))))
                    n := add(half, 1)
                }
                default { n := half }
            }
            if n { root := mload(base) }
        }
    }

    /// @notice Whether `recordId` is a leaf of the tree with `root`.
    function contains(bytes32 root, bytes32 recordId, bytes32[] calldata proof) internal pure returns (bool) {
        return MerkleProof.verifyCalldata(proof, root, leaf(recordId));
    }
}
