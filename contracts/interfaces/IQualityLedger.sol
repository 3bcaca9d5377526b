// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {
    BatchCalibration,
    CalibrationTerms,
    BatchHeader,
    Inclusion,
    RecordHeader,
    RecordState,
    RecordStatus,
    RootState
} from "../common/Types.sol";

/// @title IQualityLedger
/// @notice Anchors quality records in three tiers and tracks their status (ISO/IEC 17025 7.8.8).
/// Tier A and B enforce the mandatory instrument, calibration and operator fields and the submitter's
/// standing, so a member that sends transactions directly still cannot anchor a bad record.
/// Every record, root and status is keyed by its submitter (`keccak256(submitter, id)`): the same digest
/// anchored by another member is another record, and no call of another member (bar a regulator's or an
/// auditor's revocation for cause) changes the state of a member's record (docs/threat-model.md).
interface IQualityLedger {
    /// @dev The record id (SM3 digest) is zero.
    error QualityLedgerZeroRecordId();
    /// @dev The header names no instrument.
    error QualityLedgerZeroInstrument(bytes32 recordId);
    /// @dev The header names no calibration certificate.
    error QualityLedgerZeroCalibration(bytes32 recordId);
    /// @dev The calibration certificate is not registered for that instrument.
    error QualityLedgerCalibrationNotRegistered(bytes32 recordId, bytes32 instrumentId, bytes32 calibrationDigest);
    /// @dev The calibration's certificate was revoked or superseded.
    error QualityLedgerCalibrationWithdrawn(bytes32 recordId, bytes32 calibrationDigest);
    /// @dev `measuredAt` lies outside the calibration's validity window.
    error QualityLedgerCalibrationNotValidAt(bytes32 recordId, uint64 measuredAt, uint40 validFrom, uint40 validUntil);
    /// @dev The header names no operator.
    error QualityLedgerZeroOperator(bytes32 recordId);
    /// @dev `measuredAt` is later than the block time.
    error QualityLedgerMeasuredInFuture(bytes32 recordId, uint64 measuredAt);
    /// @dev `submitter` is not an active member.
    error QualityLedgerSubmitterNotActive(address submitter);
    /// @dev `submitter`'s accreditation does not cover `recordType`.
    error QualityLedgerSubmitterNotAccredited(address submitter, uint8 recordType);
    /// @dev `submitter`'s accreditation expired at `validUntil`.
    error QualityLedgerAccreditationExpired(address submitter, uint40 validUntil);
    /// @dev The record is anchored (or has a status) already.
    error QualityLedgerRecordExists(bytes32 recordId);
    /// @dev Batch headers must be in strictly ascending record id order; `index` breaks it.
    error QualityLedgerBatchNotSorted(uint256 index);
    /// @dev The header at `index` refers to a calibration or operator the batch does not list.
    error QualityLedgerBatchBadReference(uint256 index);
    /// @dev A batch or root must hold at least one record.
    error QualityLedgerEmptyBatch();
    /// @dev The Merkle root is zero.
    error QualityLedgerZeroRoot();
    /// @dev The Merkle root is anchored already.
    error QualityLedgerRootExists(bytes32 root);
    /// @dev The Merkle root is not anchored.
    error QualityLedgerUnknownRoot(bytes32 root);
    /// @dev The proof does not place `recordId` under `root`.
    error QualityLedgerNotIncluded(bytes32 root, bytes32 recordId);
    /// @dev The record is not in the ledger.
    error QualityLedgerUnknownRecord(bytes32 recordId);
    /// @dev The record is revoked or superseded (`status`), so it cannot change again.
    error QualityLedgerRecordNotInForce(bytes32 recordId, RecordStatus status);
    /// @dev `caller` is not an active member, so it may not change this record.
    error QualityLedgerUnauthorized(address caller, bytes32 recordId);
    /// @dev `caller` did not anchor `recordId` and holds no role that may revoke it for cause.
    error QualityLedgerNotSubmitter(address caller, bytes32 recordId);
    /// @dev The terms of a calibration certificate are incomplete: no instrument or owner, or an empty window.
    error QualityLedgerInvalidCalibrationTerms(bytes32 recordId, bytes32 instrumentId, address owner);
    /// @dev A record cannot supersede itself.
    error QualityLedgerSelfSupersede(bytes32 recordId);
    /// @dev The record type code is 0 or above 63.
    error QualityLedgerInvalidRecordType(uint8 recordType);

    /// @notice A record was anchored in tier A.
    event RecordAnchored(
        bytes32 indexed recordId,
        address indexed submitter,
        uint8 recordType,
        bytes32 instrumentId,
        bytes32 calibrationDigest,
        bytes32 operatorId,
        uint64 measuredAt
    );
    /// @notice A calibration certificate anchored in tier A fixed what it certifies.
    event CalibrationCertified(
        bytes32 indexed certificateId,
        address indexed issuer,
        address indexed owner,
        bytes32 instrumentId,
        uint40 validFrom,
        uint40 validUntil
    );
    /// @notice A tier B batch was checked and its Merkle root anchored; the headers are in the call data.
    event BatchAnchored(bytes32 indexed root, address indexed submitter, uint8 recordType, uint32 count);
    /// @notice A tier C root of record digests was anchored.
    event RootAnchored(bytes32 indexed root, address indexed submitter, uint32 count, bytes32 schema);
    /// @notice `submitter`'s record was revoked by `by`; `root` is zero for a tier A record.
    event RecordRevoked(
        bytes32 indexed recordId, address indexed submitter, bytes32 indexed root, address by, bytes32 reason
    );
    /// @notice A record was superseded by an amended record.
    event RecordSuperseded(
        bytes32 indexed recordId,
        bytes32 indexed replacementId,
        address indexed by,
        bytes32 reason
    );

    /// @notice Tier A: anchor one record after checking its header and the caller's standing.
    /// @param recordType Record type code (1..63).
    /// @param header The record's header.
    function anchor(uint8 recordType, RecordHeader calldata header) external;

    /// @notice Tier A for a `calibration_certificate` record: anchor it with the terms it certifies, so that
    /// the instrument's owner can register it (and only it, for that instrument, with that window).
    /// @dev The caller must be accredited for calibration certificates; the header is checked as in {anchor}.
    /// @param header The certificate record's header (the calibration lab's own reference instrument).
    /// @param terms The calibrated instrument, its owner and the validity window the certificate states.
    function anchorCalibration(RecordHeader calldata header, CalibrationTerms calldata terms) external;

    /// @notice Tier B: check every header, build their Merkle root on chain and anchor it.
    /// @dev Headers must be sorted by strictly ascending `recordId`. Duplicates within the batch and records
    /// anchored in tier A (or with a status) are refused; the headers themselves are not stored (they stay in
    /// the transaction's call data).
    /// @param recordType Record type code shared by every record in the batch.
    /// @param calibrations The (instrument, calibration certificate) pairs the headers refer to.
    /// @param operatorIds The operators the headers refer to.
    /// @param headers The compact headers.
    /// @return root The anchored Merkle root.
    function anchorBatch(
        uint8 recordType,
        BatchCalibration[] calldata calibrations,
        bytes32[] calldata operatorIds,
        BatchHeader[] calldata headers
    ) external returns (bytes32 root);

    /// @notice Tier C: anchor an off-chain Merkle root of record digests.
    /// @param root The Merkle root (see {RecordMerkle}).
    /// @param count Number of records under the root.
    /// @param schema Digest naming the schema of the records.
    function anchorRoot(bytes32 root, uint32 count, bytes32 schema) external;

    /// @notice Revoke `submitter`'s tier A record. The submitter may revoke its own; a regulator or auditor
    /// any, for cause.
    /// @dev Counts a strike against the submitter.
    /// @param submitter The member that anchored the record.
    /// @param recordId The record.
    /// @param reason Digest or short text of the grounds.
    function revoke(address submitter, bytes32 recordId, bytes32 reason) external;

    /// @notice Revoke `submitter`'s record anchored under a Merkle root of `submitter`'s.
    /// @param submitter The member that anchored the root.
    /// @param root The anchored root.
    /// @param recordId The record.
    /// @param proof Its Merkle proof.
    /// @param reason Digest or short text of the grounds.
    function revokeBatched(
        address submitter,
        bytes32 root,
        bytes32 recordId,
        bytes32[] calldata proof,
        bytes32 reason
    ) external;

    /// @notice Mark a tier A record of the caller's superseded by another tier A record of the caller's.
    /// @param recordId The record replaced.
    /// @param replacementId The amended record.
    /// @param reason Digest or short text of the reason for the amendment.
    function supersede(bytes32 recordId, bytes32 replacementId, bytes32 reason) external;

    /// @notice Mark a record superseded, either record given directly (root zero) or under a Merkle root; both
    /// must be the caller's (their `submitter`).
    /// @param record The record replaced.
    /// @param replacement The amended record.
    /// @param reason Digest or short text of the reason for the amendment.
    function supersedeBatched(Inclusion calldata record, Inclusion calldata replacement, bytes32 reason) external;

    /// @notice State of `submitter`'s record known individually (tier A, or a batched record whose status
    /// changed).
    /// @param submitter The member that anchored it.
    /// @param recordId The record.
    /// @return The state; status None if unknown.
    function recordOf(address submitter, bytes32 recordId) external view returns (RecordState memory);

    /// @notice State of a Merkle root anchored by `submitter`.
    /// @param submitter The member that anchored it.
    /// @param root The root.
    /// @return The state; submitter zero if unknown.
    function rootOf(address submitter, bytes32 root) external view returns (RootState memory);

    /// @notice What a calibration certificate anchored by `issuer` certifies.
    /// @param issuer The calibration lab that anchored it.
    /// @param certificateId The certificate record.
    /// @return The terms; owner zero if the certificate was not anchored with {anchorCalibration}.
    function certificateOf(address issuer, bytes32 certificateId) external view returns (CalibrationTerms memory);

    /// @notice Status of a record given directly (tier A) or under a Merkle root with its proof.
    /// @param record The record and, for a batched record, its root and proof.
    /// @return None when not in the ledger, else Anchored, Revoked or Superseded.
    function statusOf(Inclusion calldata record) external view returns (RecordStatus);

    /// @notice `statusOf` for many records in one call (for verifiers sweeping thousands of proofs).
    /// @param records The records and, for batched records, their roots and proofs.
    /// @return statuses One status per record, in order.
    function statusesOf(Inclusion[] calldata records) external view returns (RecordStatus[] memory statuses);

    /// @notice The record of `submitter`'s that superseded its record `recordId` (zero if none).
    /// @param submitter The member that anchored both.
    /// @param recordId The record.
    /// @return The replacement's id.
    function supersededBy(address submitter, bytes32 recordId) external view returns (bytes32);

    /// @notice The consortium whose members may anchor.
    /// @return The ConsortiumRegistry.
    function consortium() external view returns (address);
}
