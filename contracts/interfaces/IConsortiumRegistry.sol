// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Accreditation, Member, RecallConfirmation} from "../common/Types.sol";

/// @title IConsortiumRegistry
/// @notice Membership of the quality alliance: roles, accreditation, governance by member vote, and the
/// alliance rule that a member whose revoked submissions reach a threshold loses its standing.
interface IConsortiumRegistry {
    enum ProposalKind {
        Admit, // admit `target` with the roles and accreditation stored beside the proposal
        Suspend, // suspend `target`
        Reinstate, // reinstate suspended `target` and clear its strikes
        UpdateAccreditation, // replace `target`'s accreditation
        SetQuorum, // set the quorum to `value` basis points
        SetStrikeThreshold, // set the automatic-suspension threshold to `value` (0 disables)
        SetRecallConfirmation // set the recall confirmation policy to `RecallConfirmation(value)`
    }

    /// @dev A governance proposal. Votes are approvals; it executes on the vote that reaches the quorum.
    struct Proposal {
        ProposalKind kind; // what executes
        address proposer; // member that proposed it (its vote is counted)
        address target; // member concerned (zero for consortium settings)
        uint40 createdBlock; // only members admitted before this block vote
        uint40 deadline; // Unix time after which votes are refused
        uint32 electorate; // active members when proposed: the quorum base
        uint32 votes; // approvals so far
        bool executed; // whether it has executed
        uint256 value; // quorum in basis points, or strike threshold
        bytes32 reason; // digest or short text explaining the proposal
    }

    /// @dev A member admitted at deployment.
    struct Founder {
        address account; // member's chain account
        bytes32 organisationId; // e.g. LEI or national registration number, as bytes32
        uint8 roles; // bitmask of {Roles}
        Accreditation accreditation; // zero for members that are not labs
    }

    /// @dev `account` is not an active member.
    error ConsortiumNotActiveMember(address account);
    /// @dev `account` has been admitted already.
    error ConsortiumMemberExists(address account);
    /// @dev `organisationId` is another member's already (a verifier maps a record's lab to its account by it).
    error ConsortiumOrganisationExists(bytes32 organisationId, address account);
    /// @dev `account` is not suspended, so it cannot be reinstated.
    error ConsortiumMemberNotSuspended(address account);
    /// @dev The role bitmask is empty or has unknown bits.
    error ConsortiumInvalidRoles(uint8 roles);
    /// @dev The accreditation names record type 0 or a scope without an expiry, or expires before now.
    error ConsortiumInvalidAccreditation(address account);
    /// @dev The quorum must be within 1..10000 basis points.
    error ConsortiumInvalidQuorum(uint256 bps);
    /// @dev The strike threshold must fit 32 bits.
    error ConsortiumInvalidStrikeThreshold(uint256 threshold);
    /// @dev The zero address was given where an account is needed.
    error ConsortiumZeroAddress();
    /// @dev No proposal has this id.
    error ConsortiumUnknownProposal(uint256 proposalId);
    /// @dev The proposal has executed already.
    error ConsortiumProposalExecuted(uint256 proposalId);
    /// @dev The proposal's voting period ended at `deadline`.
    error ConsortiumProposalExpired(uint256 proposalId, uint40 deadline);
    /// @dev `voter` has voted on this proposal already.
    error ConsortiumAlreadyVoted(uint256 proposalId, address voter);
    /// @dev `voter` was admitted after the proposal was made.
    error ConsortiumVoterNotEligible(uint256 proposalId, address voter);
    /// @dev `caller` may not call this function.
    error ConsortiumUnauthorized(address caller);
    /// @dev The ledger that reports strikes has been bound already.
    error ConsortiumLedgerAlreadyBound(address ledger);

    /// @notice A proposal was made.
    event ProposalCreated(
        uint256 indexed proposalId,
        ProposalKind kind,
        address indexed proposer,
        address indexed target,
        uint256 value,
        bytes32 reason
    );
    /// @notice `voter` approved a proposal; `votes` is the new total.
    event VoteCast(uint256 indexed proposalId, address indexed voter, uint32 votes);
    /// @notice A proposal reached its quorum and executed.
    event ProposalExecuted(uint256 indexed proposalId);
    /// @notice `account` became an active member.
    event MemberAdmitted(address indexed account, bytes32 organisationId, uint8 roles);
    /// @notice `account`'s accreditation was set.
    event AccreditationUpdated(address indexed account, Accreditation accreditation);
    /// @notice `account` was suspended, by vote or automatically (`automatic`) after too many strikes.
    event MemberSuspended(address indexed account, bytes32 reason, bool automatic);
    /// @notice `account` was reinstated by vote; its strikes were cleared.
    event MemberReinstated(address indexed account, bytes32 reason);
    /// @notice The quorum changed.
    event QuorumChanged(uint256 previousBps, uint256 newBps);
    /// @notice The automatic-suspension threshold changed.
    event StrikeThresholdChanged(uint256 previousThreshold, uint256 newThreshold);
    /// @notice The recall confirmation policy changed.
    event RecallConfirmationChanged(RecallConfirmation previousPolicy, RecallConfirmation newPolicy);
    /// @notice A revoked submission was counted against `account`.
    event StrikeRecorded(address indexed account, bytes32 indexed recordId, uint32 strikes);
    /// @notice The ledger allowed to report strikes was bound.
    event LedgerBound(address indexed ledger);

    /// @notice Propose admitting `account` as a member.
    /// @param account The new member's chain account.
    /// @param organisationId The organisation's registration id (e.g. LEI) as bytes32.
    /// @param roles Bitmask of {Roles}.
    /// @param accreditation The lab's accreditation; all zero for a member that issues no records.
    /// @return proposalId The new proposal's id.
    function proposeAdmission(
        address account,
        bytes32 organisationId,
        uint8 roles,
        Accreditation calldata accreditation
    ) external returns (uint256 proposalId);

    /// @notice Propose suspending an active member.
    /// @param account The member to suspend.
    /// @param reason Digest or short text of the grounds.
    /// @return proposalId The new proposal's id.
    function proposeSuspension(address account, bytes32 reason) external returns (uint256 proposalId);

    /// @notice Propose reinstating a suspended member (its strikes are cleared).
    /// @param account The member to reinstate.
    /// @param reason Digest or short text of the grounds.
    /// @return proposalId The new proposal's id.
    function proposeReinstatement(address account, bytes32 reason) external returns (uint256 proposalId);

    /// @notice Propose replacing a member's accreditation (renewal, scope change, withdrawal).
    /// @param account The member concerned.
    /// @param accreditation The new accreditation.
    /// @return proposalId The new proposal's id.
    function proposeAccreditation(address account, Accreditation calldata accreditation)
        external
        returns (uint256 proposalId);

    /// @notice Propose a new quorum.
    /// @param bps Approvals needed, in basis points of the active members when a proposal is made.
    /// @return proposalId The new proposal's id.
    function proposeQuorum(uint256 bps) external returns (uint256 proposalId);

    /// @notice Propose a new automatic-suspension threshold.
    /// @param threshold Strikes at which a member is suspended; 0 disables the rule.
    /// @return proposalId The new proposal's id.
    function proposeStrikeThreshold(uint256 threshold) external returns (uint256 proposalId);

    /// @notice Propose a new recall confirmation policy.
    /// @param policy Who confirms a recall.
    /// @return proposalId The new proposal's id.
    function proposeRecallConfirmation(RecallConfirmation policy) external returns (uint256 proposalId);

    /// @notice Approve a proposal; it executes on the approval that reaches the quorum.
    /// @param proposalId The proposal to approve.
    function vote(uint256 proposalId) external;

    /// @notice Bind the ledger whose revocations count as strikes. Callable once, by the deployer.
    /// @param ledger_ The QualityLedger address.
    function bindLedger(address ledger_) external;

    /// @notice Count a revoked submission against `account`; suspends it when the threshold is reached.
    /// @dev Only the bound ledger calls this.
    /// @param account The member whose record was revoked.
    /// @param recordId The revoked record.
    function recordStrike(address account, bytes32 recordId) external;

    /// @notice A member's standing (roles, status, strikes, accreditation scope and expiry) in one read.
    /// @param account The member.
    /// @return The member's standing; status None if never admitted.
    function memberOf(address account) external view returns (Member memory);

    /// @notice A member's accreditation.
    /// @param account The member.
    /// @return The accreditation; all zero if none.
    function accreditationOf(address account) external view returns (Accreditation memory);

    /// @notice A member's organisation id.
    /// @param account The member.
    /// @return The organisation id given at admission.
    function organisationOf(address account) external view returns (bytes32);

    /// @notice The member admitted under an organisation id: how a verifier finds the account whose records
    /// a record's `lab.member_id` names.
    /// @param organisationId The organisation id (bytes32 text).
    /// @return The member's account; zero if none.
    function accountOf(bytes32 organisationId) external view returns (address);

    /// @notice Whether `account` is an active member.
    /// @param account The account.
    /// @return True when active.
    function isActive(address account) external view returns (bool);

    /// @notice Whether `account` is an active member holding every bit of `roles`.
    /// @param account The account.
    /// @param roles Bitmask of {Roles}.
    /// @return True when active and holding the roles.
    function hasRoles(address account, uint8 roles) external view returns (bool);

    /// @notice Whether `account` may issue records of `recordType` now (active, accredited, in scope).
    /// @param account The account.
    /// @param recordType Record type code.
    /// @return True when it may.
    function isAccredited(address account, uint8 recordType) external view returns (bool);

    /// @notice A proposal.
    /// @param proposalId The proposal's id.
    /// @return The proposal.
    function proposalOf(uint256 proposalId) external view returns (Proposal memory);

    /// @notice Number of proposals made.
    /// @return The count (ids run from 1).
    function proposalCount() external view returns (uint256);

    /// @notice Approvals a proposal needs to execute.
    /// @param proposalId The proposal's id.
    /// @return The number of approvals.
    function requiredVotes(uint256 proposalId) external view returns (uint256);

    /// @notice Approvals the quorum requires out of `electorate` members.
    /// @param electorate Number of members entitled to vote.
    /// @return The number of approvals (at least one).
    function votesNeeded(uint256 electorate) external view returns (uint256);

    /// @notice Whether `voter` has approved a proposal.
    /// @param proposalId The proposal's id.
    /// @param voter The member.
    /// @return True if it has.
    function hasVoted(uint256 proposalId, address voter) external view returns (bool);

    /// @notice Number of active members.
    /// @return The count.
    function activeMemberCount() external view returns (uint256);

    /// @notice Current quorum in basis points.
    /// @return The quorum.
    function quorumBps() external view returns (uint256);

    /// @notice Current automatic-suspension threshold (0 = disabled).
    /// @return The threshold.
    function strikeThreshold() external view returns (uint256);

    /// @notice Current recall confirmation policy.
    /// @return The policy.
    function recallConfirmation() external view returns (RecallConfirmation);

    /// @notice Seconds a proposal stays open.
    /// @return The voting period.
    function votingPeriod() external view returns (uint256);

    /// @notice The ledger allowed to report strikes (zero until bound).
    /// @return The ledger address.
    function ledger() external view returns (address);
}
