// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {
    Calibration,
    CalibrationTerms,
    Instrument,
    Member,
    MemberStatus,
    RecordStatus,
    Roles
} from "./common/Types.sol";
import {IConsortiumRegistry} from "./interfaces/IConsortiumRegistry.sol";
import {IInstrumentRegistry} from "./interfaces/IInstrumentRegistry.sol";

/// @title InstrumentRegistry
/// @notice Instruments and their calibration history, keyed by owner: an instrument is
/// `keccak256(owner, instrumentId)`, so no member can register, calibrate or measure with another member's
/// instrument, nor stop it from registering its own (docs/threat-model.md, "a hostile member").
/// @dev Abstract: deployed as part of {QualityLedger}, which supplies the consortium, the record store and
/// the certificates' terms. Keeping both in one deployment saves the anchoring path an external call
/// (~3,300 gas per record), which the tier A budget of 60,000 gas per record needs.
abstract contract InstrumentRegistry is IInstrumentRegistry {
    mapping(bytes32 instrumentKey => Instrument) private _instruments;
    mapping(bytes32 instrumentKey => mapping(bytes32 certificateId => Calibration)) private _calibrations;
    mapping(bytes32 instrumentKey => bytes32[]) private _history;
    mapping(bytes32 instrumentKey => mapping(bytes32 certificateId => address issuer)) private _issuers;

    /// @dev The consortium whose members own instruments.
    function _consortium() internal view virtual returns (IConsortiumRegistry);

    /// @dev Status of the record `recordId` anchored by `submitter`.
    function _recordStatus(address submitter, bytes32 recordId) internal view virtual returns (RecordStatus);

    /// @dev The terms of the calibration certificate `certificateId` anchored by `issuer` (owner zero if none).
    function _terms(address issuer, bytes32 certificateId) internal view virtual returns (CalibrationTerms memory);

    /// @inheritdoc IInstrumentRegistry
    function registerInstrument(bytes32 instrumentId, bytes32 modelDigest) external {
        _requireActive(msg.sender);
        if (instrumentId == bytes32(0)) revert InstrumentZeroId();
        bytes32 key = _instrumentKey(msg.sender, instrumentId);
        if (_instruments[key].owner != address(0)) revert InstrumentExists(instrumentId);
        _instruments[key] = Instrument(msg.sender, uint40(block.timestamp), modelDigest);
        emit InstrumentRegistered(instrumentId, msg.sender, modelDigest);
    }

    /// @inheritdoc IInstrumentRegistry
    /// @dev Requirements: caller active and owner of `instrumentId`; the certificate anchored by `issuer`
    /// through {IQualityLedger-anchorCalibration}, in force, and naming this instrument and this owner.
    /// The window is the certificate's. Emits {CalibrationRegistered}.
    function registerCalibration(bytes32 instrumentId, address issuer, bytes32 certificateId) external {
        bytes32 key = _requireOwner(instrumentId);
        if (_recordStatus(issuer, certificateId) != RecordStatus.Anchored) {
            revert CalibrationCertificateNotAnchored(certificateId);
        }
        CalibrationTerms memory t = _terms(issuer, certificateId);
        if (t.owner == address(0)) revert CalibrationCertificateNotAnchored(certificateId);
        if (t.instrumentId != instrumentId || t.owner != msg.sender) {
            revert CalibrationNotForInstrument(certificateId, t.owner, t.instrumentId);
        }
        _issuers[key][certificateId] = issuer;
        _addCalibration(key, instrumentId, certificateId, t.validFrom, t.validUntil, false);
    }

    /// @inheritdoc IInstrumentRegistry
    /// @dev Requirements: caller an active member holding {Roles-REFERENCE_BODY} (a role granted only at
    /// founding or by an admission vote, so the consortium's governance decision is the evidence), owner of
    /// `instrumentId`; a non-zero digest and a non-empty window. Every other member's reference standards are
    /// calibrated by a certificate a reference body anchors, through {registerCalibration}
    /// (docs/threat-model.md, "a hostile member"). Emits {CalibrationRegistered} with `external_` set.
    function registerReferenceCalibration(
        bytes32 instrumentId,
        bytes32 certificateId,
        uint40 validFrom,
        uint40 validUntil
    ) external {
        Member memory m = _requireActive(msg.sender);
        if (m.roles & Roles.REFERENCE_BODY == 0) revert InstrumentNotReferenceBody(msg.sender);
        bytes32 key = _instrumentKey(msg.sender, instrumentId);
        if (_instruments[key].owner == address(0)) revert InstrumentUnknown(instrumentId, msg.sender);
        if (certificateId == bytes32(0)) revert CalibrationCertificateNotAnchored(certificateId);
        if (validFrom == 0 || validUntil <= validFrom) revert CalibrationInvalidWindow(validFrom, validUntil);
        _addCalibration(key, instrumentId, certificateId, validFrom, validUntil, true);
    }

    /// @inheritdoc IInstrumentRegistry
    function instrumentOf(address owner, bytes32 instrumentId) external view returns (Instrument memory) {
        return _instruments[_instrumentKey(owner, instrumentId)];
    }

    /// @inheritdoc IInstrumentRegistry
    function calibrationOf(address owner, bytes32 instrumentId, bytes32 certificateId)
        external
        view
        returns (Calibration memory)
    {
        return _calibrations[_instrumentKey(owner, instrumentId)][certificateId];
    }

    /// @inheritdoc IInstrumentRegistry
    function calibrationHistory(address owner, bytes32 instrumentId) external view returns (bytes32[] memory) {
        return _history[_instrumentKey(owner, instrumentId)];
    }

    /// @inheritdoc IInstrumentRegistry
    function isCalibratedAt(address owner, bytes32 instrumentId, bytes32 certificateId, uint64 timestamp)
        external
        view
        returns (bool)
    {
        Calibration storage c = _calibrations[_instrumentKey(owner, instrumentId)][certificateId];
        return c.validFrom != 0 && !c.withdrawn && timestamp >= c.validFrom && timestamp <= c.validUntil;
    }

    /// @dev The calibration the anchoring path checks (one storage slot), of `owner`'s instrument.
    function _calibration(address owner, bytes32 instrumentId, bytes32 certificateId)
        internal
        view
        returns (Calibration storage)
    {
        return _calibrations[_instrumentKey(owner, instrumentId)][certificateId];
    }

    /// @dev Marks withdrawn the calibration that `issuer`'s certificate `certificateId` with terms `t` grants,
    /// if its owner registered that certificate of that issuer (another issuer's record of the same digest
    /// naming the same instrument withdraws nothing). Emits {CalibrationWithdrawn} when it does.
    function _withdrawCalibration(address issuer, bytes32 certificateId, CalibrationTerms memory t) internal {
        bytes32 key = _instrumentKey(t.owner, t.instrumentId);
        if (_issuers[key][certificateId] != issuer) return;
        Calibration storage c = _calibrations[key][certificateId];
        c.withdrawn = true;
        emit CalibrationWithdrawn(t.instrumentId, t.owner, certificateId);
    }

    /// @dev `keccak256(abi.encode(owner, instrumentId))`, hashed in the scratch space (0x00-0x3f) that Solidity
    /// reserves for hashing, so no memory is allocated on the anchoring path.
    function _instrumentKey(address owner, bytes32 instrumentId) internal pure returns (bytes32 key) {
        assembly ("memory-safe") {
            mstore(0x00, owner)
            mstore(0x20, instrumentId)
            key := keccak256(0x00, 0x40)
        }
    }

    /// @dev Emits {CalibrationRegistered}.
    function _addCalibration(
        bytes32 key,
        bytes32 instrumentId,
        bytes32 certificateId,
        uint40 validFrom,
        uint40 validUntil,
        bool external_
    ) private {
        Calibration storage existing = _calibrations[key][certificateId];
        if (existing.validFrom != 0) revert CalibrationExists(certificateId);
        _calibrations[key][certificateId] = Calibration(validFrom, validUntil, uint40(block.timestamp), false, external_);
        _history[key].push(certificateId);
        emit CalibrationRegistered(instrumentId, msg.sender, certificateId, validFrom, validUntil, external_);
    }

    /// @dev Reverts unless the caller is active and has registered `instrumentId`; returns its key.
    function _requireOwner(bytes32 instrumentId) private view returns (bytes32 key) {
        key = _instrumentKey(msg.sender, instrumentId);
        if (_instruments[key].owner == address(0)) revert InstrumentUnknown(instrumentId, msg.sender);
        _requireActive(msg.sender);
    }

    /// @dev Reverts unless `account` is an active member; returns its standing.
    function _requireActive(address account) private view returns (Member memory m) {
        m = _consortium().memberOf(account);
        if (m.status != MemberStatus.Active) revert InstrumentNotActiveMember(account);
    }
}
