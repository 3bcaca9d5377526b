// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title ISemver
/// @notice A contract that reports its semantic version.
interface ISemver {
    /// @notice The contract's version, "MAJOR.MINOR.PATCH".
    /// @return The version string.
    function version() external view returns (string memory);
}
