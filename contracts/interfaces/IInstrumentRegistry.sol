// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Calibration, Instrument} from "../common/Types.sol";

/// @title IInstrumentRegistry
/// @notice Instruments owned by members and their calibrations. An instrument is keyed by its owner and its
/// id, so two members' instruments never collide and only the owner registers, calibrates or measures with
/// its own. Each calibration is an anchored `calibration_certificate` record whose instrument, owner and
/// validity window were fixed by the issuing calibration lab when it anchored it; the full history is kept.
/// The one exception is the root of traceability: a reference body (a national metrology institute, admitted
/// with the REFERENCE_BODY role by the consortium's governance) declares its own primary standards.
interface IInstrumentRegistry {
    /// @dev The zero id was given for an instrument.
    error InstrumentZeroId();
    /// @dev The caller has registered `instrumentId` already.
    error InstrumentExists(bytes32 instrumentId);
    /// @dev `owner` has not registered `instrumentId`.
    error InstrumentUnknown(bytes32 instrumentId, address owner);
    /// @dev `account` is not an active member.
    error InstrumentNotActiveMember(address account);
    /// @dev `account` does not hold the REFERENCE_BODY role, so it cannot declare a traceability root.
    error InstrumentNotReferenceBody(address account);
    /// @dev The window is empty or inverted.
    error CalibrationInvalidWindow(uint40 validFrom, uint40 validUntil);
    /// @dev `certificateId` is not an anchored, in-force calibration certificate of the issuer named.
    error CalibrationCertificateNotAnchored(bytes32 certificateId);
    /// @dev The certificate calibrates `owner`'s instrument `instrumentId`, not the caller's instrument named.
    error CalibrationNotForInstrument(bytes32 certificateId, address owner, bytes32 instrumentId);
    /// @dev `certificateId` is registered for this instrument already.
    error CalibrationExists(bytes32 certificateId);

    /// @notice An instrument was registered.
    event InstrumentRegistered(bytes32 indexed instrumentId, address indexed owner, bytes32 modelDigest);
    /// @notice A calibration was registered for `owner`'s instrument.
    event CalibrationRegistered(
        bytes32 indexed instrumentId,
        address indexed owner,
        bytes32 indexed certificateId,
        uint40 validFrom,
        uint40 validUntil,
        bool external_
    );
    /// @notice A calibration stopped counting because its certificate record was revoked or superseded.
    event CalibrationWithdrawn(bytes32 indexed instrumentId, address indexed owner, bytes32 indexed certificateId);

    /// @notice Register an instrument owned by the caller.
    /// @param instrumentId Stable id of the instrument (e.g. SM3 of maker, model and serial).
    /// @param modelDigest SM3 of the instrument's master data record.
    function registerInstrument(bytes32 instrumentId, bytes32 modelDigest) external;

    /// @notice Register, for the caller's instrument, the calibration that a certificate anchored by `issuer`
    /// grants it; the window is the certificate's own.
    /// @param instrumentId The calibrated instrument (owned by the caller, and the one the certificate names).
    /// @param issuer The calibration lab that anchored the certificate.
    /// @param certificateId SM3 of the anchored certificate record.
    function registerCalibration(bytes32 instrumentId, address issuer, bytes32 certificateId) external;

    /// @notice Register a traceability root: a primary standard of the caller, a reference body (e.g. a
    /// national metrology institute), whose calibration is not itself a ledger record.
    /// @dev Only an active member holding the REFERENCE_BODY role may do this, on its own instrument: the
    /// role is granted only at founding or by an admission vote, and that governance decision is the
    /// evidence. Any other lab's reference standard is calibrated by a certificate that a reference body
    /// anchors (`anchorCalibration`) and the lab registers with {registerCalibration}.
    /// @param instrumentId The primary standard (owned by the caller).
    /// @param certificateId SM3 of the document declaring the standard (e.g. its CIPM MRA calibration and
    /// measurement capability entry).
    /// @param validFrom Start of validity (Unix time).
    /// @param validUntil End of validity, inclusive (Unix time).
    function registerReferenceCalibration(
        bytes32 instrumentId,
        bytes32 certificateId,
        uint40 validFrom,
        uint40 validUntil
    ) external;

    /// @notice An instrument of `owner`.
    /// @param owner The member that registered it.
    /// @param instrumentId The instrument.
    /// @return The instrument; owner zero if unknown.
    function instrumentOf(address owner, bytes32 instrumentId) external view returns (Instrument memory);

    /// @notice A calibration of `owner`'s instrument.
    /// @param owner The instrument's owner.
    /// @param instrumentId The instrument.
    /// @param certificateId The certificate digest.
    /// @return The calibration; validFrom zero if not registered.
    function calibrationOf(address owner, bytes32 instrumentId, bytes32 certificateId)
        external
        view
        returns (Calibration memory);

    /// @notice Every certificate registered for `owner`'s instrument, oldest first.
    /// @param owner The instrument's owner.
    /// @param instrumentId The instrument.
    /// @return The certificate digests.
    function calibrationHistory(address owner, bytes32 instrumentId) external view returns (bytes32[] memory);

    /// @notice Whether a calibration of `owner`'s instrument is registered, not withdrawn, and covers `timestamp`.
    /// @param owner The instrument's owner.
    /// @param instrumentId The instrument.
    /// @param certificateId The certificate digest.
    /// @param timestamp Unix time.
    /// @return True when it covers `timestamp`.
    function isCalibratedAt(address owner, bytes32 instrumentId, bytes32 certificateId, uint64 timestamp)
        external
        view
        returns (bool);
}
