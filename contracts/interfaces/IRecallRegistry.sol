// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title IRecallRegistry
/// @notice Recalls opened by regulators, confirmed per the consortium's policy, and the escrow agents'
/// key-share releases that let the regulator decrypt the confidential records in scope.
interface IRecallRegistry {
    enum ScopeKind {
        Lot, // scope = digest of the lot id
        Product, // scope = digest of the product id (e.g. GTIN)
        Records // scope = Merkle root (see {RecordMerkle}) of the record digests concerned
    }

    enum RecallStatus {
        None, // no such recall
        Proposed, // opened, awaiting the member quorum
        Confirmed, // in force: escrow agents release their shares
        Closed // ended: no more releases
    }

    /// @dev A recall. Approvals count only under the MemberQuorum policy.
    struct Recall {
        address regulator; // member that opened it; releases are encrypted to its key
        ScopeKind scopeKind; // what `scope` names
        RecallStatus status; // current status
        uint40 openedBlock; // only members admitted before this block approve
        uint40 openedAt; // Unix time
        uint40 confirmedAt; // Unix time; 0 until confirmed
        uint40 closedAt; // Unix time; 0 until closed
        uint32 electorate; // active members when opened: the quorum base
        uint32 approvals; // member approvals so far
        uint32 releases; // key-share releases posted
        bytes32 scope; // lot digest, product digest, or Merkle root of record digests
        bytes32 reason; // digest of the grounds (e.g. the safety notice)
    }

    /// @dev `caller` is not an active regulator.
    error RecallNotRegulator(address caller);
    /// @dev `caller` is not an active escrow agent.
    error RecallNotEscrowAgent(address caller);
    /// @dev `caller` is not an active member.
    error RecallNotMember(address caller);
    /// @dev `caller` is neither the recall's regulator nor another active regulator.
    error RecallUnauthorized(address caller, uint256 recallId);
    /// @dev The scope digest is zero.
    error RecallZeroScope();
    /// @dev No recall has this id.
    error RecallUnknown(uint256 recallId);
    /// @dev The recall awaits confirmation.
    error RecallNotConfirmed(uint256 recallId);
    /// @dev The recall is confirmed already.
    error RecallAlreadyConfirmed(uint256 recallId);
    /// @dev The recall is closed.
    error RecallIsClosed(uint256 recallId);
    /// @dev `member` has approved this recall already.
    error RecallAlreadyApproved(uint256 recallId, address member);
    /// @dev `member` was admitted after the recall was opened.
    error RecallApproverNotEligible(uint256 recallId, address member);
    /// @dev This agent has posted this release already.
    error RecallReleaseExists(uint256 recallId, address agent, bytes32 releaseDigest);
    /// @dev The release names no content.
    error RecallEmptyRelease();

    /// @notice A regulator opened a recall.
    event RecallOpened(
        uint256 indexed recallId,
        address indexed regulator,
        ScopeKind scopeKind,
        bytes32 indexed scope,
        bytes32 reason
    );
    /// @notice A member approved a recall; `approvals` is the new total.
    event RecallApproved(uint256 indexed recallId, address indexed member, uint32 approvals);
    /// @notice A recall came into force.
    event RecallConfirmed(uint256 indexed recallId);
    /// @notice A recall was closed.
    event RecallClosed(uint256 indexed recallId, address indexed by, bytes32 reason);
    /// @notice An escrow agent released its key shares for a recall, re-encrypted to the regulator.
    event KeyShareReleased(
        uint256 indexed recallId,
        address indexed agent,
        address indexed regulator,
        bytes32 releaseDigest,
        string releaseCid
    );

    /// @notice Open a recall. Under the RegulatorAlone policy it is confirmed at once.
    /// @param scopeKind What `scope` names.
    /// @param scope Lot digest, product digest, or Merkle root of record digests.
    /// @param reason Digest of the grounds.
    /// @return recallId The new recall's id.
    function openRecall(ScopeKind scopeKind, bytes32 scope, bytes32 reason) external returns (uint256 recallId);

    /// @notice Approve a proposed recall (MemberQuorum policy); confirms it on the approval reaching quorum.
    /// @param recallId The recall.
    function approveRecall(uint256 recallId) external;

    /// @notice Close a recall; no release is accepted afterwards.
    /// @param recallId The recall.
    /// @param reason Digest of the grounds.
    function closeRecall(uint256 recallId, bytes32 reason) external;

    /// @notice Post an escrow agent's key-share release for a confirmed recall.
    /// @param recallId The recall.
    /// @param releaseDigest SM3 of the release document (the agent's shares re-encrypted to the regulator).
    /// @param releaseCid IPFS CID of the release document.
    function postRelease(uint256 recallId, bytes32 releaseDigest, string calldata releaseCid) external;

    /// @notice A recall.
    /// @param recallId The recall.
    /// @return The recall; status None if unknown.
    function recallOf(uint256 recallId) external view returns (Recall memory);

    /// @notice Number of recalls opened.
    /// @return The count (ids run from 1).
    function recallCount() external view returns (uint256);

    /// @notice Approvals a recall needs under the MemberQuorum policy.
    /// @param recallId The recall.
    /// @return The number of approvals.
    function requiredApprovals(uint256 recallId) external view returns (uint256);

    /// @notice Whether `member` approved the recall.
    /// @param recallId The recall.
    /// @param member The member.
    /// @return True if it did.
    function hasApproved(uint256 recallId, address member) external view returns (bool);

    /// @notice Whether `agent` posted the release with `releaseDigest` for the recall.
    /// @param recallId The recall.
    /// @param agent The escrow agent.
    /// @param releaseDigest SM3 of the release document.
    /// @return True if it did.
    function isReleased(uint256 recallId, address agent, bytes32 releaseDigest) external view returns (bool);

    /// @notice Whether a recall is confirmed and not closed: the only state in which releases are accepted.
    /// @param recallId The recall.
    /// @return True when releases are accepted.
    function isInForce(uint256 recallId) external view returns (bool);

    /// @notice The consortium whose members act on recalls.
    /// @return The ConsortiumRegistry.
    function consortium() external view returns (address);
}
