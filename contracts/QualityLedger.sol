// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {
    BatchCalibration,
    BatchHeader,
    Calibration,
    CalibrationTerms,
    Inclusion,
    Member,
    MemberStatus,
    RecordHeader,
    RecordState,
    RecordStatus,
    RecordTypes,
    Roles,
    RootState,
    Tier
} from "./common/Types.sol";
import {RecordMerkle} from "./common/RecordMerkle.sol";
import {Semver} from "./common/Semver.sol";
import {InstrumentRegistry} from "./InstrumentRegistry.sol";
import {IConsortiumRegistry} from "./interfaces/IConsortiumRegistry.sol";
import {IQualityLedger} from "./interfaces/IQualityLedger.sol";
import {IStandingMirror} from "./interfaces/IStandingMirror.sol";

/// @title QualityLedger
/// @notice Tier A, B and C anchoring of quality records, their revocation and supersession, and (inherited)
/// the instrument and calibration registry the anchoring checks run against.
/// @dev Every state entry is keyed by its submitter: records and batched-record statuses by
/// `keccak256(submitter, recordId)`, roots by `keccak256(submitter, root)`, certificates' terms by
/// `keccak256(issuer, certificateId)`, instruments by `keccak256(owner, instrumentId)`. A member that anchors
/// another member's digest, or a root containing it, creates state of its own and touches nothing of the
/// other's; revocation and supersession locate the record under the submitter named (docs/threat-model.md).
contract QualityLedger is IQualityLedger, IStandingMirror, InstrumentRegistry, Semver {
    /// @dev Flag bits of a packed calibration window (see {_window}) that no measurement can pass.
    uint256 private constant _UNUSABLE = 1 << 80;

    IConsortiumRegistry private immutable _registry;

    mapping(bytes32 recordKey => RecordState) private _records;
    mapping(bytes32 rootKey => RootState) private _roots;
    mapping(bytes32 recordKey => bytes32 replacementId) private _supersededBy;
    mapping(bytes32 recordKey => CalibrationTerms) private _certificates;
    mapping(address account => Member) private _standing; // mirrored from the registry, see {mirrorStanding}

    constructor(IConsortiumRegistry registry_) Semver(0, 1, 0) {
        _registry = registry_;
    }

    // ---------------------------------------------------------------- anchoring

    /// @inheritdoc IQualityLedger
    /// @dev Requirements: caller active and accredited for `recordType`; every header field set; calibration
    /// registered for the caller's instrument, not withdrawn and covering `measuredAt`; record not yet
    /// anchored by the caller. Emits {RecordAnchored}.
    function anchor(uint8 recordType, RecordHeader calldata header) external {
        _anchor(recordType, header);
    }

    /// @inheritdoc IQualityLedger
    /// @dev Requirements: those of {anchor} for a calibration_certificate record; terms naming an
    /// instrument, its owner and a non-empty window. Emits {RecordAnchored} and {CalibrationCertified}.
    function anchorCalibration(RecordHeader calldata header, CalibrationTerms calldata terms) external {
        bytes32 key = _anchor(RecordTypes.CALIBRATION_CERTIFICATE, header);
        if (
            terms.instrumentId == bytes32(0) || terms.owner == address(0) || terms.validFrom == 0
                || terms.validUntil <= terms.validFrom
        ) revert QualityLedgerInvalidCalibrationTerms(header.recordId, terms.instrumentId, terms.owner);
        _certificates[key] = terms;
        emit CalibrationCertified(
            header.recordId, msg.sender, terms.owner, terms.instrumentId, terms.validFrom, terms.validUntil
        );
    }

    /// @inheritdoc IQualityLedger
    /// @dev Applies the checks of {anchor} to every header, resolved through the batch's tables.
    /// Emits {BatchAnchored}.
    function anchorBatch(
        uint8 recordType,
        BatchCalibration[] calldata calibrations,
        bytes32[] calldata operatorIds,
        BatchHeader[] calldata headers
    ) external returns (bytes32 root) {
        _requireSubmitter(recordType);
        uint256 n = headers.length;
        if (n == 0) revert QualityLedgerEmptyBatch();
        uint256[] memory windows = new uint256[](calibrations.length);
        for (uint256 c = 0; c < calibrations.length; ++c) {
            windows[c] = _window(calibrations[c].instrumentId, calibrations[c].calibrationDigest);
        }
        // The batch's records are the caller's: their status entries are keyed by it.
        bytes32[] memory leaves = new bytes32[](n);
        bytes32 previous = bytes32(0);
        for (uint256 i = 0; i < n; ++i) {
            BatchHeader calldata header = headers[i];
            bytes32 recordId = header.recordId;
            uint256 c = header.calibration;
            uint256 o = header.operator;
            if (recordId <= previous || c >= windows.length || o >= operatorIds.length) {
                _revertOrder(i, recordId, previous);
            }
            if (!_passes(operatorIds[o], header.measuredAt, windows[c])) {
                BatchCalibration calldata ref = calibrations[c];
                _revertHeader(recordId, ref.instrumentId, ref.calibrationDigest, operatorIds[o], header.measuredAt);
            }
            if (_records[_key(msg.sender, recordId)].status != RecordStatus.None) {
                revert QualityLedgerRecordExists(recordId);
            }
            leaves[i] = RecordMerkle.leaf(recordId);
            previous = recordId;
        }
        root = RecordMerkle.rootInPlace(leaves);
        // A batch is bounded by the block gas limit, far below 2**32 records.
        _storeRoot(root, Tier.B, recordType, uint32(n));
        emit BatchAnchored(root, msg.sender, recordType, uint32(n));
    }

    /// @inheritdoc IQualityLedger
    /// @dev Requirements: caller active (its mirrored standing: one storage read, no call); `root` non-zero
    /// and new for the caller; `count` positive. Emits {RootAnchored}.
    function anchorRoot(bytes32 root, uint32 count, bytes32 schema) external {
        if (_standing[msg.sender].status != MemberStatus.Active) revert QualityLedgerSubmitterNotActive(msg.sender);
        if (count == 0) revert QualityLedgerEmptyBatch();
        _storeRoot(root, Tier.C, 0, count);
        emit RootAnchored(root, msg.sender, count, schema);
    }

    // ---------------------------------------------------------------- standing

    /// @inheritdoc IStandingMirror
    /// @dev Requirements: caller the registry. Emits {StandingMirrored}.
    function mirrorStanding(address account, Member calldata member) external {
        if (msg.sender != address(_registry)) revert StandingMirrorNotRegistry(msg.sender);
        _standing[account] = member;
        emit StandingMirrored(account, member.roles, uint8(member.status));
    }

    /// @inheritdoc IStandingMirror
    function standingOf(address account) external view returns (Member memory) {
        return _standing[account];
    }

    // ---------------------------------------------------------------- status changes

    /// @inheritdoc IQualityLedger
    /// @dev Emits {RecordRevoked}; may emit {CalibrationWithdrawn}.
    function revoke(address submitter, bytes32 recordId, bytes32 reason) external {
        _revoke(submitter, recordId, bytes32(0), _locate(submitter, recordId, bytes32(0), _emptyProof()), reason);
    }

    /// @inheritdoc IQualityLedger
    /// @dev Emits {RecordRevoked}; may emit {CalibrationWithdrawn}.
    function revokeBatched(
        address submitter,
        bytes32 root,
        bytes32 recordId,
        bytes32[] calldata proof,
        bytes32 reason
    ) external {
        _revoke(submitter, recordId, root, _locate(submitter, recordId, root, proof), reason);
    }

    /// @inheritdoc IQualityLedger
    /// @dev Emits {RecordSuperseded}; may emit {CalibrationWithdrawn}.
    function supersede(bytes32 recordId, bytes32 replacementId, bytes32 reason) external {
        bytes32[] calldata none = _emptyProof();
        _supersede(
            recordId,
            _locate(msg.sender, recordId, 0, none),
            replacementId,
            _locate(msg.sender, replacementId, 0, none),
            reason
        );
    }

    /// @inheritdoc IQualityLedger
    /// @dev Requirements: both inclusions name the caller as submitter. Emits {RecordSuperseded}; may emit
    /// {CalibrationWithdrawn}.
    function supersedeBatched(Inclusion calldata record, Inclusion calldata replacement, bytes32 reason) external {
        if (record.submitter != msg.sender) revert QualityLedgerNotSubmitter(msg.sender, record.recordId);
        if (replacement.submitter != msg.sender) revert QualityLedgerNotSubmitter(msg.sender, replacement.recordId);
        _supersede(
            record.recordId,
            _locate(msg.sender, record.recordId, record.root, record.proof),
            replacement.recordId,
            _locate(msg.sender, replacement.recordId, replacement.root, replacement.proof),
            reason
        );
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IQualityLedger
    function recordOf(address submitter, bytes32 recordId) external view returns (RecordState memory) {
        return _records[_key(submitter, recordId)];
    }

    /// @inheritdoc IQualityLedger
    function rootOf(address submitter, bytes32 root) external view returns (RootState memory) {
        return _roots[_key(submitter, root)];
    }

    /// @inheritdoc IQualityLedger
    function certificateOf(address issuer, bytes32 certificateId) external view returns (CalibrationTerms memory) {
        return _certificates[_key(issuer, certificateId)];
    }

    /// @inheritdoc IQualityLedger
    function statusOf(Inclusion calldata record) external view returns (RecordStatus) {
        return _statusOf(record);
    }

    /// @inheritdoc IQualityLedger
    function statusesOf(Inclusion[] calldata records) external view returns (RecordStatus[] memory statuses) {
        statuses = new RecordStatus[](records.length);
        for (uint256 i = 0; i < records.length; ++i) {
            statuses[i] = _statusOf(records[i]);
        }
    }

    function _statusOf(Inclusion calldata record) private view returns (RecordStatus) {
        RecordStatus status = _records[_key(record.submitter, record.recordId)].status;
        if (record.root == bytes32(0)) return status;
        if (_roots[_key(record.submitter, record.root)].submitter == address(0)) return RecordStatus.None;
        if (!RecordMerkle.contains(record.root, record.recordId, record.proof)) return RecordStatus.None;
        return status == RecordStatus.None ? RecordStatus.Anchored : status;
    }

    /// @inheritdoc IQualityLedger
    function supersededBy(address submitter, bytes32 recordId) external view returns (bytes32) {
        return _supersededBy[_key(submitter, recordId)];
    }

    /// @inheritdoc IQualityLedger
    function consortium() external view returns (address) {
        return address(_registry);
    }

    // ---------------------------------------------------------------- internals

    function _consortium() internal view override returns (IConsortiumRegistry) {
        return _registry;
    }

    function _recordStatus(address submitter, bytes32 recordId) internal view override returns (RecordStatus) {
        return _records[_key(submitter, recordId)].status;
    }

    function _terms(address issuer, bytes32 certificateId) internal view override returns (CalibrationTerms memory) {
        return _certificates[_key(issuer, certificateId)];
    }

    /// @dev `keccak256(submitter, id)`: the key of a member's record, root or certificate terms.
    function _key(address submitter, bytes32 id) private pure returns (bytes32) {
        return _instrumentKey(submitter, id);
    }

    /// @dev Tier A: the checks of {anchor}, then the record's one slot under the caller's key, which is
    /// returned. Emits {RecordAnchored}.
    function _anchor(uint8 recordType, RecordHeader calldata header) private returns (bytes32 key) {
        _requireSubmitter(recordType);
        bytes32 recordId = header.recordId;
        if (
            recordId == bytes32(0)
                || !_passes(header.operatorId, header.measuredAt, _window(header.instrumentId, header.calibrationDigest))
        ) {
            _revertHeader(recordId, header.instrumentId, header.calibrationDigest, header.operatorId, header.measuredAt);
        }
        key = _key(msg.sender, recordId);
        RecordState storage slot = _records[key];
        if (slot.status != RecordStatus.None) revert QualityLedgerRecordExists(recordId);
        _records[key] = RecordState(msg.sender, uint40(block.timestamp), Tier.A, RecordStatus.Anchored, recordType);
        emit RecordAnchored(
            recordId,
            msg.sender,
            recordType,
            header.instrumentId,
            header.calibrationDigest,
            header.operatorId,
            header.measuredAt
        );
    }

    /// @dev The caller must be active and accredited, now, for `recordType`: one read of its mirrored standing.
    function _requireSubmitter(uint8 recordType) private view {
        if (recordType == 0 || recordType > RecordTypes.MAX) revert QualityLedgerInvalidRecordType(recordType);
        Member memory m = _standing[msg.sender];
        if (
            m.status == MemberStatus.Active && (m.recordTypeScope >> recordType) & 1 == 1
                && block.timestamp <= m.accreditationValidUntil
        ) return;
        if (m.status != MemberStatus.Active) revert QualityLedgerSubmitterNotActive(msg.sender);
        if ((m.recordTypeScope >> recordType) & 1 == 0) {
            revert QualityLedgerSubmitterNotAccredited(msg.sender, recordType);
        }
        revert QualityLedgerAccreditationExpired(msg.sender, m.accreditationValidUntil);
    }

    /// @dev A calibration of the caller's instrument, its window packed for the anchoring loop: validFrom |
    /// validUntil << 40, plus a flag bit from bit 80 up when it cannot cover any measurement (zero ids, not
    /// registered for the caller's instrument, withdrawn). Another member's instrument is not the caller's,
    /// so only an instrument's owner anchors measurements made with it.
    function _window(bytes32 instrumentId, bytes32 calibrationDigest) private view returns (uint256) {
        if (instrumentId == bytes32(0) || calibrationDigest == bytes32(0)) return _UNUSABLE;
        Calibration storage c = _calibration(msg.sender, instrumentId, calibrationDigest);
        (uint40 validFrom, uint40 validUntil, bool withdrawn) = (c.validFrom, c.validUntil, c.withdrawn);
        if (validFrom == 0 || withdrawn) return _UNUSABLE;
        return uint256(validFrom) | (uint256(validUntil) << 40);
    }

    /// @dev The checks every tier A and B header must pass, bar the record id's: a few comparisons against
    /// the packed window, which already refuses zero instrument and calibration ids. A header that fails
    /// goes to {_revertHeader} to name its first fault.
    function _passes(bytes32 operatorId, uint64 measuredAt, uint256 window) private view returns (bool) {
        return operatorId != bytes32(0) && measuredAt <= block.timestamp && window < _UNUSABLE
            && measuredAt >= uint40(window) && measuredAt <= uint40(window >> 40);
    }

    /// @dev Reverts with the first fault of a header, in a fixed order.
    function _revertHeader(
        bytes32 recordId,
        bytes32 instrumentId,
        bytes32 calibrationDigest,
        bytes32 operatorId,
        uint64 measuredAt
    ) private view {
        if (recordId == bytes32(0)) revert QualityLedgerZeroRecordId();
        if (instrumentId == bytes32(0)) revert QualityLedgerZeroInstrument(recordId);
        if (calibrationDigest == bytes32(0)) revert QualityLedgerZeroCalibration(recordId);
        if (operatorId == bytes32(0)) revert QualityLedgerZeroOperator(recordId);
        if (measuredAt > block.timestamp) revert QualityLedgerMeasuredInFuture(recordId, measuredAt);
        Calibration storage c = _calibration(msg.sender, instrumentId, calibrationDigest);
        if (c.validFrom == 0) {
            revert QualityLedgerCalibrationNotRegistered(recordId, instrumentId, calibrationDigest);
        }
        if (c.withdrawn) revert QualityLedgerCalibrationWithdrawn(recordId, calibrationDigest);
        revert QualityLedgerCalibrationNotValidAt(recordId, measuredAt, c.validFrom, c.validUntil);
    }

    /// @dev Reverts for a batch header out of order, duplicated, or referring past the batch's tables.
    function _revertOrder(uint256 index, bytes32 recordId, bytes32 previous) private pure {
        if (recordId == bytes32(0)) revert QualityLedgerZeroRecordId();
        if (recordId == previous) revert QualityLedgerRecordExists(recordId);
        if (recordId < previous) revert QualityLedgerBatchNotSorted(index);
        revert QualityLedgerBatchBadReference(index);
    }

    /// @dev Stores the caller's root under `keccak256(caller, root)`: the same root anchored by another member
    /// is that member's and refuses nothing of the caller's.
    function _storeRoot(bytes32 root, Tier tier, uint8 recordType, uint32 count) private {
        if (root == bytes32(0)) revert QualityLedgerZeroRoot();
        RootState storage slot = _roots[_key(msg.sender, root)];
        if (slot.submitter != address(0)) revert QualityLedgerRootExists(root);
        (slot.submitter, slot.anchoredAt, slot.tier, slot.recordType, slot.count) =
            (msg.sender, uint40(block.timestamp), tier, recordType, count);
    }

    /// @dev The state of `submitter`'s record given directly (`root` zero) or under a root of `submitter`'s. A
    /// batched record without a status entry yet gets one built from its root. A root of another member
    /// that contains the same digest is another member's record and never reached from here.
    function _locate(address submitter, bytes32 recordId, bytes32 root, bytes32[] calldata proof)
        private
        view
        returns (RecordState memory state)
    {
        state = _records[_key(submitter, recordId)];
        if (root == bytes32(0)) {
            if (state.status == RecordStatus.None) revert QualityLedgerUnknownRecord(recordId);
            return state;
        }
        RootState storage r = _roots[_key(submitter, root)];
        if (r.submitter == address(0)) revert QualityLedgerUnknownRoot(root);
        if (!RecordMerkle.contains(root, recordId, proof)) revert QualityLedgerNotIncluded(root, recordId);
        if (state.status == RecordStatus.None) {
            state = RecordState(r.submitter, r.anchoredAt, r.tier, RecordStatus.Anchored, r.recordType);
        }
    }

    /// @dev Revokes `submitter`'s record: by the submitter itself, or for cause by an active regulator or
    /// auditor. Emits {RecordRevoked}; counts a strike against the submitter.
    function _revoke(address submitter, bytes32 recordId, bytes32 root, RecordState memory state, bytes32 reason)
        private
    {
        if (state.status != RecordStatus.Anchored) revert QualityLedgerRecordNotInForce(recordId, state.status);
        Member memory caller = _standing[msg.sender];
        if (caller.status != MemberStatus.Active) revert QualityLedgerUnauthorized(msg.sender, recordId);
        if (msg.sender != submitter && caller.roles & (Roles.REGULATOR | Roles.AUDITOR) == 0) {
            revert QualityLedgerNotSubmitter(msg.sender, recordId);
        }
        state.status = RecordStatus.Revoked;
        bytes32 key = _key(submitter, recordId);
        _records[key] = state;
        emit RecordRevoked(recordId, submitter, root, msg.sender, reason);
        _withdraw(submitter, key, recordId);
        _registry.recordStrike(submitter, recordId);
    }

    /// @dev Supersedes a record of the caller's by another of the caller's (both located under the caller).
    /// Emits {RecordSuperseded}.
    function _supersede(
        bytes32 recordId,
        RecordState memory state,
        bytes32 replacementId,
        RecordState memory replacement,
        bytes32 reason
    ) private {
        if (recordId == replacementId) revert QualityLedgerSelfSupersede(recordId);
        if (state.status != RecordStatus.Anchored) revert QualityLedgerRecordNotInForce(recordId, state.status);
        if (replacement.status != RecordStatus.Anchored) {
            revert QualityLedgerRecordNotInForce(replacementId, replacement.status);
        }
        if (_standing[msg.sender].status != MemberStatus.Active) {
            revert QualityLedgerUnauthorized(msg.sender, recordId);
        }
        state.status = RecordStatus.Superseded;
        bytes32 key = _key(msg.sender, recordId);
        _records[key] = state;
        _supersededBy[key] = replacementId;
        emit RecordSuperseded(recordId, replacementId, msg.sender, reason);
        _withdraw(msg.sender, key, recordId);
    }

    /// @dev A revoked or superseded calibration certificate withdraws the calibration it granted.
    function _withdraw(address issuer, bytes32 key, bytes32 recordId) private {
        CalibrationTerms memory t = _certificates[key];
        if (t.owner != address(0)) _withdrawCalibration(issuer, recordId, t);
    }

    function _emptyProof() private pure returns (bytes32[] calldata proof) {
        assembly ("memory-safe") {
            proof.offset := 0
            proof.length := 0
        }
    }
}
