// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Calibration, Instrument, Member, MemberStatus, RecordStatus, RecordTypes} from "./common/Types.sol";
import {IConsortiumRegistry} from "./interfaces/IConsortiumRegistry.sol";
import {IInstrumentRegistry} from "./interfaces/IInstrumentRegistry.sol";

/// @title InstrumentRegistry
/// @notice Instruments and their calibration history.
/// @dev Abstract: deployed as part of {QualityLedger}, which supplies the consortium and the record store.
/// Keeping both in one deployment saves the anchoring path an external call (~3,300 gas per record), which
/// the tier A budget of 60,000 gas per record needs.
abstract contract InstrumentRegistry is IInstrumentRegistry {
    mapping(bytes32 instrumentId => Instrument) private _instruments;
    mapping(bytes32 instrumentId => mapping(bytes32 certificateId => Calibration)) private _calibrations;
    mapping(bytes32 instrumentId => bytes32[]) private _history;
    mapping(bytes32 certificateId => bytes32 instrumentId) private _certificateInstrument;

    /// @dev The consortium whose members own instruments.
    function _consortium() internal view virtual returns (IConsortiumRegistry);

    /// @dev Status and record type of a ledger record.
    function _recordStatus(bytes32 recordId) internal view virtual returns (RecordStatus status, uint8 recordType);

    /// @inheritdoc IInstrumentRegistry
    function registerInstrument(bytes32 instrumentId, bytes32 modelDigest) external {
        _requireActive(msg.sender);
        if (instrumentId == bytes32(0)) revert InstrumentZeroId();
        if (_instruments[instrumentId].owner != address(0)) revert InstrumentExists(instrumentId);
        _instruments[instrumentId] = Instrument(msg.sender, uint40(block.timestamp), modelDigest);
        emit InstrumentRegistered(instrumentId, msg.sender, modelDigest);
    }

    /// @inheritdoc IInstrumentRegistry
    function transferInstrument(bytes32 instrumentId, address newOwner) external {
        _requireOwner(instrumentId);
        _requireActive(newOwner);
        _instruments[instrumentId].owner = newOwner;
        emit InstrumentTransferred(instrumentId, msg.sender, newOwner);
    }

    /// @inheritdoc IInstrumentRegistry
    function registerCalibration(bytes32 instrumentId, bytes32 certificateId, uint40 validFrom, uint40 validUntil)
        external
    {
        _requireOwner(instrumentId);
        (RecordStatus status, uint8 recordType) = _recordStatus(certificateId);
        if (status != RecordStatus.Anchored || recordType != RecordTypes.CALIBRATION_CERTIFICATE) {
            revert CalibrationCertificateNotAnchored(certificateId);
        }
        _addCalibration(instrumentId, certificateId, validFrom, validUntil, false);
    }

    /// @inheritdoc IInstrumentRegistry
    function registerReferenceCalibration(
        bytes32 instrumentId,
        bytes32 certificateId,
        uint40 validFrom,
        uint40 validUntil
    ) external {
        _requireOwner(instrumentId);
        if (!_consortium().isAccredited(msg.sender, RecordTypes.CALIBRATION_CERTIFICATE)) {
            revert InstrumentNotCalibrationLab(msg.sender);
        }
        if (certificateId == bytes32(0)) revert CalibrationCertificateNotAnchored(certificateId);
        _addCalibration(instrumentId, certificateId, validFrom, validUntil, true);
    }

    /// @inheritdoc IInstrumentRegistry
    function instrumentOf(bytes32 instrumentId) external view returns (Instrument memory) {
        return _instruments[instrumentId];
    }

    /// @inheritdoc IInstrumentRegistry
    function calibrationOf(bytes32 instrumentId, bytes32 certificateId) external view returns (Calibration memory) {
        return _calibrations[instrumentId][certificateId];
    }

    /// @inheritdoc IInstrumentRegistry
    function calibrationHistory(bytes32 instrumentId) external view returns (bytes32[] memory) {
        return _history[instrumentId];
    }

    /// @inheritdoc IInstrumentRegistry
    function isCalibratedAt(bytes32 instrumentId, bytes32 certificateId, uint64 timestamp) external view returns (bool) {
        Calibration storage c = _calibrations[instrumentId][certificateId];
        return c.validFrom != 0 && !c.withdrawn && timestamp >= c.validFrom && timestamp <= c.validUntil;
    }

    /// @dev The calibration the anchoring path checks (one storage slot).
    function _calibration(bytes32 instrumentId, bytes32 certificateId) internal view returns (Calibration storage) {
        return _calibrations[instrumentId][certificateId];
    }

    /// @dev Marks the calibration backed by `certificateId` withdrawn, if there is one.
    /// Emits {CalibrationWithdrawn} when it does.
    function _withdrawCalibration(bytes32 certificateId) internal {
        bytes32 instrumentId = _certificateInstrument[certificateId];
        if (instrumentId == bytes32(0)) return;
        _calibrations[instrumentId][certificateId].withdrawn = true;
        emit CalibrationWithdrawn(instrumentId, certificateId);
    }

    /// @dev Emits {CalibrationRegistered}.
    function _addCalibration(
        bytes32 instrumentId,
        bytes32 certificateId,
        uint40 validFrom,
        uint40 validUntil,
        bool external_
    ) private {
        if (validFrom == 0 || validUntil <= validFrom) revert CalibrationInvalidWindow(validFrom, validUntil);
        if (_certificateInstrument[certificateId] != bytes32(0)) revert CalibrationExists(certificateId);
        _certificateInstrument[certificateId] = instrumentId;
        _calibrations[instrumentId][certificateId] =
            Calibration(validFrom, validUntil, uint40(block.timestamp), false, external_);
        _history[instrumentId].push(certificateId);
        emit CalibrationRegistered(instrumentId, certificateId, validFrom, validUntil, external_);
    }

    function _requireOwner(bytes32 instrumentId) private view {
        address owner = _instruments[instrumentId].owner;
        if (owner == address(0)) revert InstrumentUnknown(instrumentId);
        if (owner != msg.sender) revert InstrumentNotOwner(instrumentId, msg.sender);
        _requireActive(msg.sender);
    }

    function _requireActive(address account) private view {
        Member memory m = _consortium().memberOf(account);
        if (m.status != MemberStatus.Active) revert InstrumentNotActiveMember(account);
    }
}
