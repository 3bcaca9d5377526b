// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Calibration, Instrument} from "../common/Types.sol";

/// @title IInstrumentRegistry
/// @notice Instruments owned by members and their calibrations. Each calibration is the digest of an anchored
/// `calibration_certificate` record with its validity window; the full history is kept.
interface IInstrumentRegistry {
    /// @dev The zero id was given for an instrument.
    error InstrumentZeroId();
    /// @dev `instrumentId` is registered already.
    error InstrumentExists(bytes32 instrumentId);
    /// @dev `instrumentId` is not registered.
    error InstrumentUnknown(bytes32 instrumentId);
    /// @dev `caller` does not own `instrumentId`.
    error InstrumentNotOwner(bytes32 instrumentId, address caller);
    /// @dev `account` is not an active member.
    error InstrumentNotActiveMember(address account);
    /// @dev `account` is not accredited to issue calibration certificates.
    error InstrumentNotCalibrationLab(address account);
    /// @dev The window is empty or inverted.
    error CalibrationInvalidWindow(uint40 validFrom, uint40 validUntil);
    /// @dev `certificateId` is not an anchored, in-force `calibration_certificate` record.
    error CalibrationCertificateNotAnchored(bytes32 certificateId);
    /// @dev `certificateId` has been registered as a calibration already.
    error CalibrationExists(bytes32 certificateId);

    /// @notice An instrument was registered.
    event InstrumentRegistered(bytes32 indexed instrumentId, address indexed owner, bytes32 modelDigest);
    /// @notice An instrument changed owner.
    event InstrumentTransferred(bytes32 indexed instrumentId, address indexed previousOwner, address indexed newOwner);
    /// @notice A calibration was registered for an instrument.
    event CalibrationRegistered(
        bytes32 indexed instrumentId,
        bytes32 indexed certificateId,
        uint40 validFrom,
        uint40 validUntil,
        bool external_
    );
    /// @notice A calibration stopped counting because its certificate record was revoked or superseded.
    event CalibrationWithdrawn(bytes32 indexed instrumentId, bytes32 indexed certificateId);

    /// @notice Register an instrument owned by the caller.
    /// @param instrumentId Stable id of the instrument (e.g. SM3 of maker, model and serial).
    /// @param modelDigest SM3 of the instrument's master data record.
    function registerInstrument(bytes32 instrumentId, bytes32 modelDigest) external;

    /// @notice Hand an instrument over to another active member.
    /// @param instrumentId The instrument.
    /// @param newOwner The member taking it over.
    function transferInstrument(bytes32 instrumentId, address newOwner) external;

    /// @notice Register a calibration backed by an anchored `calibration_certificate` record.
    /// @param instrumentId The calibrated instrument (owned by the caller).
    /// @param certificateId SM3 of the anchored certificate record.
    /// @param validFrom Start of validity (Unix time).
    /// @param validUntil End of validity, inclusive (Unix time).
    function registerCalibration(bytes32 instrumentId, bytes32 certificateId, uint40 validFrom, uint40 validUntil)
        external;

    /// @notice Register a traceability root: a calibration of the caller's reference standard by an outside body
    /// (e.g. a national metrology institute), whose certificate is not itself a ledger record.
    /// @dev Only a member accredited for `calibration_certificate` records may do this.
    /// @param instrumentId The reference standard (owned by the caller).
    /// @param certificateId SM3 of the outside certificate document.
    /// @param validFrom Start of validity (Unix time).
    /// @param validUntil End of validity, inclusive (Unix time).
    function registerReferenceCalibration(
        bytes32 instrumentId,
        bytes32 certificateId,
        uint40 validFrom,
        uint40 validUntil
    ) external;

    /// @notice An instrument.
    /// @param instrumentId The instrument.
    /// @return The instrument; owner zero if unknown.
    function instrumentOf(bytes32 instrumentId) external view returns (Instrument memory);

    /// @notice A calibration of an instrument.
    /// @param instrumentId The instrument.
    /// @param certificateId The certificate digest.
    /// @return The calibration; validFrom zero if not registered.
    function calibrationOf(bytes32 instrumentId, bytes32 certificateId) external view returns (Calibration memory);

    /// @notice Every certificate registered for an instrument, oldest first.
    /// @param instrumentId The instrument.
    /// @return The certificate digests.
    function calibrationHistory(bytes32 instrumentId) external view returns (bytes32[] memory);

    /// @notice Whether a calibration is registered, not withdrawn, and covers `timestamp`.
    /// @param instrumentId The instrument.
    /// @param certificateId The certificate digest.
    /// @param timestamp Unix time.
    /// @return True when it covers `timestamp`.
    function isCalibratedAt(bytes32 instrumentId, bytes32 certificateId, uint64 timestamp) external view returns (bool);
}
