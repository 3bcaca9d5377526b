// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {Accreditation, Member, MemberStatus, RecallConfirmation, RecordTypes, Roles} from "./common/Types.sol";
import {Semver} from "./common/Semver.sol";
import {IConsortiumRegistry} from "./interfaces/IConsortiumRegistry.sol";
import {IStandingMirror} from "./interfaces/IStandingMirror.sol";

/// @title ConsortiumRegistry
/// @notice Members, roles and accreditation of the alliance, governed by member vote.
/// @dev No function loops over the member list: the electorate is a counter snapshotted per proposal.
contract ConsortiumRegistry is IConsortiumRegistry, Semver {
    uint256 private constant _BPS = 10_000;

    address private immutable _deployer;
    uint40 private immutable _votingPeriod;

    mapping(address account => Member) private _members;
    mapping(address account => Accreditation) private _accreditations;
    mapping(address account => bytes32) private _organisations;
    mapping(bytes32 organisationId => address account) private _accounts;

    mapping(uint256 proposalId => Proposal) private _proposals;
    mapping(uint256 proposalId => Founder) private _admissions; // payload of Admit proposals
    mapping(uint256 proposalId => mapping(address voter => bool)) private _voted;
    uint256 private _proposalCount;

    uint32 private _activeMembers;
    uint16 private _quorumBps;
    uint32 private _strikeThreshold;
    RecallConfirmation private _recallConfirmation;
    address private _ledger;
    address[] private _unmirrored; // members admitted before the ledger was bound: mirrored by bindLedger

    /// @dev Requirements: at least one founder; valid quorum; each founder valid and distinct.
    /// Emits {MemberAdmitted} (and {AccreditationUpdated} for accredited founders) per founder.
    constructor(
        Founder[] memory founders,
        uint256 quorumBps_,
        uint256 strikeThreshold_,
        uint256 votingPeriod_,
        RecallConfirmation recallConfirmation_
    ) Semver(0, 1, 0) {
        _deployer = msg.sender;
        _votingPeriod = SafeCast.toUint40(votingPeriod_);
        _setQuorum(quorumBps_);
        _setStrikeThreshold(strikeThreshold_);
        _setRecallConfirmation(recallConfirmation_);
        for (uint256 i = 0; i < founders.length; ++i) {
            _admit(founders[i]);
        }
        if (_activeMembers == 0) revert ConsortiumNotActiveMember(address(0));
    }

    // ---------------------------------------------------------------- proposals

    /// @inheritdoc IConsortiumRegistry
    function proposeAdmission(
        address account,
        bytes32 organisationId,
        uint8 roles,
        Accreditation calldata accreditation
    ) external returns (uint256 proposalId) {
        Founder memory admission = Founder(account, organisationId, roles, accreditation);
        _checkAdmissible(admission);
        proposalId = _propose(ProposalKind.Admit, account, 0, organisationId);
        _admissions[proposalId] = admission;
        _vote(proposalId, msg.sender);
    }

    /// @inheritdoc IConsortiumRegistry
    function proposeSuspension(address account, bytes32 reason) external returns (uint256) {
        if (_members[account].status != MemberStatus.Active) revert ConsortiumNotActiveMember(account);
        return _proposeAndVote(ProposalKind.Suspend, account, 0, reason);
    }

    /// @inheritdoc IConsortiumRegistry
    function proposeReinstatement(address account, bytes32 reason) external returns (uint256) {
        if (_members[account].status != MemberStatus.Suspended) revert ConsortiumMemberNotSuspended(account);
        return _proposeAndVote(ProposalKind.Reinstate, account, 0, reason);
    }

    /// @inheritdoc IConsortiumRegistry
    function proposeAccreditation(address account, Accreditation calldata accreditation)
        external
        returns (uint256 proposalId)
    {
        if (_members[account].status == MemberStatus.None) revert ConsortiumNotActiveMember(account);
        _checkAccreditation(account, accreditation);
        proposalId = _propose(ProposalKind.UpdateAccreditation, account, 0, accreditation.scopeDigest);
        _admissions[proposalId].accreditation = accreditation;
        _vote(proposalId, msg.sender);
    }

    /// @inheritdoc IConsortiumRegistry
    function proposeQuorum(uint256 bps) external returns (uint256) {
        if (bps == 0 || bps > _BPS) revert ConsortiumInvalidQuorum(bps);
        return _proposeAndVote(ProposalKind.SetQuorum, address(0), bps, bytes32(0));
    }

    /// @inheritdoc IConsortiumRegistry
    function proposeStrikeThreshold(uint256 threshold) external returns (uint256) {
        if (threshold > type(uint32).max) revert ConsortiumInvalidStrikeThreshold(threshold);
        return _proposeAndVote(ProposalKind.SetStrikeThreshold, address(0), threshold, bytes32(0));
    }

    /// @inheritdoc IConsortiumRegistry
    function proposeRecallConfirmation(RecallConfirmation policy) external returns (uint256) {
        return _proposeAndVote(ProposalKind.SetRecallConfirmation, address(0), uint256(policy), bytes32(0));
    }

    /// @inheritdoc IConsortiumRegistry
    function vote(uint256 proposalId) external {
        _vote(proposalId, msg.sender);
    }

    // ---------------------------------------------------------------- ledger hook

    /// @inheritdoc IConsortiumRegistry
    function bindLedger(address ledger_) external {
        if (msg.sender != _deployer) revert ConsortiumUnauthorized(msg.sender);
        if (_ledger != address(0)) revert ConsortiumLedgerAlreadyBound(_ledger);
        if (ledger_ == address(0)) revert ConsortiumZeroAddress();
        _ledger = ledger_;
        emit LedgerBound(ledger_);
        // Bounded by the admissions made before binding (the founders, in a normal deployment).
        address[] memory pending = _unmirrored;
        delete _unmirrored;
        for (uint256 i = 0; i < pending.length; ++i) {
            IStandingMirror(ledger_).mirrorStanding(pending[i], _members[pending[i]]);
        }
    }

    /// @inheritdoc IConsortiumRegistry
    function recordStrike(address account, bytes32 recordId) external {
        if (msg.sender != _ledger) revert ConsortiumUnauthorized(msg.sender);
        Member storage m = _members[account];
        uint32 strikes = m.strikes + 1;
        m.strikes = strikes;
        emit StrikeRecorded(account, recordId, strikes);
        uint32 threshold = _strikeThreshold;
        if (threshold != 0 && strikes >= threshold && m.status == MemberStatus.Active) {
            _suspend(account, "STRIKE_THRESHOLD", true);
        }
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IConsortiumRegistry
    function memberOf(address account) external view returns (Member memory) {
        return _members[account];
    }

    /// @inheritdoc IConsortiumRegistry
    function accreditationOf(address account) external view returns (Accreditation memory) {
        return _accreditations[account];
    }

    /// @inheritdoc IConsortiumRegistry
    function organisationOf(address account) external view returns (bytes32) {
        return _organisations[account];
    }

    /// @inheritdoc IConsortiumRegistry
    function accountOf(bytes32 organisationId) external view returns (address) {
        return _accounts[organisationId];
    }

    /// @inheritdoc IConsortiumRegistry
    function isActive(address account) external view returns (bool) {
        return _members[account].status == MemberStatus.Active;
    }

    /// @inheritdoc IConsortiumRegistry
    function hasRoles(address account, uint8 roles) external view returns (bool) {
        Member storage m = _members[account];
        return m.status == MemberStatus.Active && m.roles & roles == roles;
    }

    /// @inheritdoc IConsortiumRegistry
    function isAccredited(address account, uint8 recordType) external view returns (bool) {
        Member storage m = _members[account];
        return m.status == MemberStatus.Active && recordType <= RecordTypes.MAX
            && (m.recordTypeScope >> recordType) & 1 == 1 && block.timestamp <= m.accreditationValidUntil;
    }

    /// @inheritdoc IConsortiumRegistry
    function proposalOf(uint256 proposalId) external view returns (Proposal memory) {
        return _proposals[proposalId];
    }

    /// @inheritdoc IConsortiumRegistry
    function proposalCount() external view returns (uint256) {
        return _proposalCount;
    }

    /// @inheritdoc IConsortiumRegistry
    function requiredVotes(uint256 proposalId) public view returns (uint256) {
        return votesNeeded(_proposals[proposalId].electorate);
    }

    /// @inheritdoc IConsortiumRegistry
    function votesNeeded(uint256 electorate) public view returns (uint256) {
        return Math.max(1, Math.mulDiv(electorate, _quorumBps, _BPS, Math.Rounding.Ceil));
    }

    /// @inheritdoc IConsortiumRegistry
    function hasVoted(uint256 proposalId, address voter) external view returns (bool) {
        return _voted[proposalId][voter];
    }

    /// @inheritdoc IConsortiumRegistry
    function activeMemberCount() external view returns (uint256) {
        return _activeMembers;
    }

    /// @inheritdoc IConsortiumRegistry
    function quorumBps() external view returns (uint256) {
        return _quorumBps;
    }

    /// @inheritdoc IConsortiumRegistry
    function strikeThreshold() external view returns (uint256) {
        return _strikeThreshold;
    }

    /// @inheritdoc IConsortiumRegistry
    function recallConfirmation() external view returns (RecallConfirmation) {
        return _recallConfirmation;
    }

    /// @inheritdoc IConsortiumRegistry
    function votingPeriod() external view returns (uint256) {
        return _votingPeriod;
    }

    /// @inheritdoc IConsortiumRegistry
    function ledger() external view returns (address) {
        return _ledger;
    }

    // ---------------------------------------------------------------- internals

    /// @dev {_propose} then the proposer's approval, for proposals without a stored payload.
    function _proposeAndVote(ProposalKind kind, address target, uint256 value, bytes32 reason)
        private
        returns (uint256 proposalId)
    {
        proposalId = _propose(kind, target, value, reason);
        _vote(proposalId, msg.sender);
    }

    /// @dev Records a proposal from an active member. The caller stores any payload, then counts the
    /// proposer's approval with {_vote} (which may execute at once under a quorum of one).
    /// Emits {ProposalCreated}.
    function _propose(ProposalKind kind, address target, uint256 value, bytes32 reason)
        private
        returns (uint256 proposalId)
    {
        if (_members[msg.sender].status != MemberStatus.Active) revert ConsortiumNotActiveMember(msg.sender);
        proposalId = ++_proposalCount;
        _proposals[proposalId] = Proposal({
            kind: kind,
            proposer: msg.sender,
            target: target,
            createdBlock: uint40(block.number),
            deadline: uint40(block.timestamp) + _votingPeriod,
            electorate: _activeMembers,
            votes: 0,
            executed: false,
            value: value,
            reason: reason
        });
        emit ProposalCreated(proposalId, kind, msg.sender, target, value, reason);
    }

    /// @dev Counts `voter`'s approval; executes the proposal when it reaches the quorum.
    /// Emits {VoteCast}, and {ProposalExecuted} on execution.
    function _vote(uint256 proposalId, address voter) private {
        Proposal storage p = _proposals[proposalId];
        if (p.proposer == address(0)) revert ConsortiumUnknownProposal(proposalId);
        if (p.executed) revert ConsortiumProposalExecuted(proposalId);
        if (block.timestamp > p.deadline) revert ConsortiumProposalExpired(proposalId, p.deadline);
        Member storage m = _members[voter];
        if (m.status != MemberStatus.Active) revert ConsortiumNotActiveMember(voter);
        // Founders are admitted in the deployment block; everyone else strictly before the proposal.
        if (m.admittedAt >= p.createdBlock && voter != p.proposer) revert ConsortiumVoterNotEligible(proposalId, voter);
        if (_voted[proposalId][voter]) revert ConsortiumAlreadyVoted(proposalId, voter);
        _voted[proposalId][voter] = true;
        uint32 votes = p.votes + 1;
        p.votes = votes;
        emit VoteCast(proposalId, voter, votes);
        if (votes >= requiredVotes(proposalId)) {
            p.executed = true;
            _execute(proposalId, p);
            emit ProposalExecuted(proposalId);
        }
    }

    function _execute(uint256 proposalId, Proposal storage p) private {
        ProposalKind kind = p.kind;
        if (kind == ProposalKind.Admit) {
            _admit(_admissions[proposalId]);
        } else if (kind == ProposalKind.Suspend) {
            if (_members[p.target].status != MemberStatus.Active) revert ConsortiumNotActiveMember(p.target);
            _suspend(p.target, p.reason, false);
        } else if (kind == ProposalKind.Reinstate) {
            _reinstate(p.target, p.reason);
        } else if (kind == ProposalKind.UpdateAccreditation) {
            _setAccreditation(p.target, _admissions[proposalId].accreditation);
        } else if (kind == ProposalKind.SetQuorum) {
            _setQuorum(p.value);
        } else if (kind == ProposalKind.SetStrikeThreshold) {
            _setStrikeThreshold(p.value);
        } else {
            // proposeRecallConfirmation only stores valid enum values
            _setRecallConfirmation(RecallConfirmation(p.value));
        }
    }

    /// @dev Emits {MemberAdmitted} and, for accredited members, {AccreditationUpdated}.
    function _admit(Founder memory f) private {
        _checkAdmissible(f);
        _members[f.account] = Member({
            roles: f.roles,
            status: MemberStatus.Active,
            strikes: 0,
            admittedAt: uint40(block.number),
            accreditationValidUntil: 0,
            recordTypeScope: 0
        });
        _organisations[f.account] = f.organisationId;
        if (f.organisationId != bytes32(0)) _accounts[f.organisationId] = f.account;
        ++_activeMembers;
        emit MemberAdmitted(f.account, f.organisationId, f.roles);
        if (_ledger == address(0)) _unmirrored.push(f.account);
        // {_setAccreditation} mirrors the member; without an accreditation it is mirrored here.
        if (f.accreditation.validUntil != 0) _setAccreditation(f.account, f.accreditation);
        else _mirror(f.account);
    }

    /// @dev Emits {MemberSuspended}.
    function _suspend(address account, bytes32 reason, bool automatic) private {
        _members[account].status = MemberStatus.Suspended;
        --_activeMembers;
        emit MemberSuspended(account, reason, automatic);
        _mirror(account);
    }

    /// @dev Emits {MemberReinstated}.
    function _reinstate(address account, bytes32 reason) private {
        Member storage m = _members[account];
        if (m.status != MemberStatus.Suspended) revert ConsortiumMemberNotSuspended(account);
        m.status = MemberStatus.Active;
        m.strikes = 0;
        ++_activeMembers;
        emit MemberReinstated(account, reason);
        _mirror(account);
    }

    /// @dev Pushes `account`'s standing to the bound ledger, which checks it on every anchor without a call
    /// back here (docs/architecture.md). Nothing before a ledger is bound: {bindLedger} mirrors those.
    function _mirror(address account) private {
        address ledger_ = _ledger;
        if (ledger_ != address(0)) IStandingMirror(ledger_).mirrorStanding(account, _members[account]);
    }

    /// @dev Emits {AccreditationUpdated}.
    function _setAccreditation(address account, Accreditation memory accreditation) private {
        _accreditations[account] = accreditation;
        Member storage m = _members[account];
        m.accreditationValidUntil = accreditation.validUntil;
        m.recordTypeScope = accreditation.recordTypeScope;
        emit AccreditationUpdated(account, accreditation);
        _mirror(account);
    }

    /// @dev Emits {QuorumChanged}.
    function _setQuorum(uint256 bps) private {
        if (bps == 0 || bps > _BPS) revert ConsortiumInvalidQuorum(bps);
        emit QuorumChanged(_quorumBps, bps);
        _quorumBps = uint16(bps);
    }

    /// @dev Emits {StrikeThresholdChanged}.
    function _setStrikeThreshold(uint256 threshold) private {
        if (threshold > type(uint32).max) revert ConsortiumInvalidStrikeThreshold(threshold);
        emit StrikeThresholdChanged(_strikeThreshold, threshold);
        _strikeThreshold = uint32(threshold);
    }

    /// @dev Emits {RecallConfirmationChanged}.
    function _setRecallConfirmation(RecallConfirmation policy) private {
        emit RecallConfirmationChanged(_recallConfirmation, policy);
        _recallConfirmation = policy;
    }

    function _checkAdmissible(Founder memory f) private view {
        if (f.account == address(0)) revert ConsortiumZeroAddress();
        if (_members[f.account].status != MemberStatus.None) revert ConsortiumMemberExists(f.account);
        address holder = _accounts[f.organisationId];
        if (f.organisationId != bytes32(0) && holder != address(0)) {
            revert ConsortiumOrganisationExists(f.organisationId, holder);
        }
        if (f.roles == 0 || f.roles & ~Roles.ALL != 0) revert ConsortiumInvalidRoles(f.roles);
        if (f.accreditation.validUntil != 0 || f.accreditation.recordTypeScope != 0) {
            _checkAccreditation(f.account, f.accreditation);
        }
    }

    /// @dev An accreditation may be withdrawn (all zero); otherwise it needs a scope without bit 0 and a
    /// future expiry.
    function _checkAccreditation(address account, Accreditation memory a) private view {
        if (a.validUntil == 0 && a.recordTypeScope == 0) return;
        if (a.recordTypeScope == 0 || a.recordTypeScope & 1 == 1 || a.validUntil <= block.timestamp) {
            revert ConsortiumInvalidAccreditation(account);
        }
    }
}
