// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";

import {ISemver} from "../interfaces/ISemver.sol";

/// @title Semver
/// @notice Reports a contract's semantic version, so clients can tell which rules a deployment enforces.
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
        return string.concat(Strings.toString(_major), ".", Strings.toString(_minor), ".", Strings.toString(_patch));
    }
}
