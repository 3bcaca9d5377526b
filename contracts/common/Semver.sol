// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ISemver} from "../interfaces/ISemver.sol";

/// @title Semver
/// @notice Reports a contract's semantic version, so clients can tell which rules a deployment enforces.
/// @dev Formats its numbers itself rather than with OpenZeppelin's Strings: Strings imports Bytes, whose assembly
///      uses `mcopy` (Cancun), and the contracts must also compile for London chains (clique; docs/architecture.md).
abstract contract Semver is ISemver {
    uint256 private immutable _major;
    uint256 private immutable _minor;
    uint256 private immutable _patch;

    constructor(uint256 major, uint256 minor, uint256 patch) {
        _major = major;
        _minor = minor;
        _patch = patch;
    }

    /// @inheritdoc ISemver
    function version() external view returns (string memory) {
        return string.concat(_decimal(_major), ".", _decimal(_minor), ".", _decimal(_patch));
    }

    function _decimal(uint256 value) private pure returns (string memory) {
        uint256 digits = 1;
        for (uint256 rest = value / 10; rest != 0; rest /= 10) {
            ++digits;
        }
        bytes memory text = new bytes(digits);
        for (uint256 i = digits; i != 0; value /= 10) {
            --i;
            text[i] = bytes1(uint8(48 + (value % 10)));
        }
        return string(text);
    }
}
