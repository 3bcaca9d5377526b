// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Member} from "../common/Types.sol";

/// @title IStandingMirror
/// @notice The ledger's copy of members' standing, written only by its ConsortiumRegistry whenever a
/// member's roles, status or accreditation change, so that anchoring checks standing with one local storage
/// read instead of a call to the registry (the tier C budget needs it: docs/architecture.md).
interface IStandingMirror {
    /// @dev `caller` is not the consortium registry the ledger was deployed with.
    error StandingMirrorNotRegistry(address caller);

    /// @notice A member's standing was mirrored from the registry.
    event StandingMirrored(address indexed account, uint8 roles, uint8 status);

    /// @notice Mirror `account`'s standing (called by the registry only).
    /// @param account The member.
    /// @param member Its standing as the registry holds it.
    function mirrorStanding(address account, Member calldata member) external;

    /// @notice The mirrored standing of `account`.
    /// @param account The member.
    /// @return Its standing (status None if never mirrored).
    function standingOf(address account) external view returns (Member memory);
}
