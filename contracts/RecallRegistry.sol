// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Member, MemberStatus, RecallConfirmation, Roles} from "./common/Types.sol";
import {Semver} from "./common/Semver.sol";
import {IConsortiumRegistry} from "./interfaces/IConsortiumRegistry.sol";
import {IRecallRegistry} from "./interfaces/IRecallRegistry.sol";

/// @title RecallRegistry
/// @notice Opens and confirms recalls and records escrow agents' key-share releases against them.
/// @dev The confirmation policy is read from the consortium when a recall is opened, so governance changes
/// apply to later recalls only.
contract RecallRegistry is IRecallRegistry, Semver {
    IConsortiumRegistry private immutable _registry;

    mapping(uint256 recallId => Recall) private _recalls;
    mapping(uint256 recallId => mapping(address member => bool)) private _approved;
    mapping(bytes32 releaseKey => bool) private _released;
    uint256 private _recallCount;

    constructor(IConsortiumRegistry registry_) Semver(0, 1, 0) {
        _registry = registry_;
    }

    /// @inheritdoc IRecallRegistry
    /// @dev Requirements: caller an active regulator; scope non-zero.
    /// Emits {RecallOpened}; and {RecallConfirmed} under RegulatorAlone, or {RecallApproved} otherwise.
    function openRecall(ScopeKind scopeKind, bytes32 scope, bytes32 reason) external returns (uint256 recallId) {
        if (!_registry.hasRoles(msg.sender, Roles.REGULATOR)) revert RecallNotRegulator(msg.sender);
        if (scope == bytes32(0)) revert RecallZeroScope();
        recallId = ++_recallCount;
        Recall storage r = _recalls[recallId];
        r.regulator = msg.sender;
        r.scopeKind = scopeKind;
        r.status = RecallStatus.Proposed;
        r.openedBlock = uint40(block.number);
        r.openedAt = uint40(block.timestamp);
        r.electorate = uint32(_registry.activeMemberCount());
        r.scope = scope;
        r.reason = reason;
        emit RecallOpened(recallId, msg.sender, scopeKind, scope, reason);
        if (_registry.recallConfirmation() == RecallConfirmation.RegulatorAlone) {
            _confirm(recallId, r);
        } else {
            _approve(recallId, r, msg.sender);
        }
    }

    /// @inheritdoc IRecallRegistry
    /// @dev Requirements: recall proposed; caller an active member admitted before the recall opened, not
    /// yet approving. Emits {RecallApproved}, and {RecallConfirmed} on reaching the quorum.
    function approveRecall(uint256 recallId) external {
        Recall storage r = _existing(recallId);
        if (r.status == RecallStatus.Confirmed) revert RecallAlreadyConfirmed(recallId);
        if (r.status == RecallStatus.Closed) revert RecallIsClosed(recallId);
        Member memory m = _registry.memberOf(msg.sender);
        if (m.status != MemberStatus.Active) revert RecallNotMember(msg.sender);
        if (m.admittedAt >= r.openedBlock) revert RecallApproverNotEligible(recallId, msg.sender);
        _approve(recallId, r, msg.sender);
    }

    /// @inheritdoc IRecallRegistry
    /// @dev Requirements: recall not closed; caller its regulator or another active regulator.
    /// Emits {RecallClosed}.
    function closeRecall(uint256 recallId, bytes32 reason) external {
        Recall storage r = _existing(recallId);
        if (r.status == RecallStatus.Closed) revert RecallIsClosed(recallId);
        if (!_registry.hasRoles(msg.sender, Roles.REGULATOR)) revert RecallUnauthorized(msg.sender, recallId);
        r.status = RecallStatus.Closed;
        r.closedAt = uint40(block.timestamp);
        emit RecallClosed(recallId, msg.sender, reason);
    }

    /// @inheritdoc IRecallRegistry
    /// @dev Requirements: caller an active escrow agent; recall confirmed and not closed; this release not
    /// posted before by this agent. Emits {KeyShareReleased}.
    function postRelease(uint256 recallId, bytes32 releaseDigest, string calldata releaseCid) external {
        if (!_registry.hasRoles(msg.sender, Roles.ESCROW_AGENT)) revert RecallNotEscrowAgent(msg.sender);
        Recall storage r = _existing(recallId);
        if (r.status == RecallStatus.Closed) revert RecallIsClosed(recallId);
        if (r.status != RecallStatus.Confirmed) revert RecallNotConfirmed(recallId);
        if (releaseDigest == bytes32(0) || bytes(releaseCid).length == 0) revert RecallEmptyRelease();
        bytes32 key = _releaseKey(recallId, msg.sender, releaseDigest);
        if (_released[key]) revert RecallReleaseExists(recallId, msg.sender, releaseDigest);
        _released[key] = true;
        ++r.releases;
        emit KeyShareReleased(recallId, msg.sender, r.regulator, releaseDigest, releaseCid);
    }

    /// @inheritdoc IRecallRegistry
    function recallOf(uint256 recallId) external view returns (Recall memory) {
        return _recalls[recallId];
    }

    /// @inheritdoc IRecallRegistry
    function recallCount() external view returns (uint256) {
        return _recallCount;
    }

    /// @inheritdoc IRecallRegistry
    function requiredApprovals(uint256 recallId) public view returns (uint256) {
        return _registry.votesNeeded(_recalls[recallId].electorate);
    }

    /// @inheritdoc IRecallRegistry
    function hasApproved(uint256 recallId, address member) external view returns (bool) {
        return _approved[recallId][member];
    }

    /// @inheritdoc IRecallRegistry
    function isReleased(uint256 recallId, address agent, bytes32 releaseDigest) external view returns (bool) {
        return _released[_releaseKey(recallId, agent, releaseDigest)];
    }

    /// @inheritdoc IRecallRegistry
    function isInForce(uint256 recallId) external view returns (bool) {
        return _recalls[recallId].status == RecallStatus.Confirmed;
    }

    /// @inheritdoc IRecallRegistry
    function consortium() external view returns (address) {
        return address(_registry);
    }

    function _existing(uint256 recallId) private view returns (Recall storage r) {
        r = _recalls[recallId];
        if (r.status == RecallStatus.None) revert RecallUnknown(recallId);
    }

    /// @dev Emits {RecallApproved}; confirms on reaching the quorum.
    function _approve(uint256 recallId, Recall storage r, address member) private {
        if (_approved[recallId][member]) revert RecallAlreadyApproved(recallId, member);
        _approved[recallId][member] = true;
        uint32 approvals = r.approvals + 1;
        r.approvals = approvals;
        emit RecallApproved(recallId, member, approvals);
        if (approvals >= requiredApprovals(recallId)) _confirm(recallId, r);
    }

    /// @dev Emits {RecallConfirmed}.
    function _confirm(uint256 recallId, Recall storage r) private {
        r.status = RecallStatus.Confirmed;
        r.confirmedAt = uint40(block.timestamp);
        emit RecallConfirmed(recallId);
    }

    function _releaseKey(uint256 recallId, address agent, bytes32 releaseDigest) private pure returns (bytes32) {
        return keccak256(abi.encode(recallId, agent, releaseDigest));
    }
}
