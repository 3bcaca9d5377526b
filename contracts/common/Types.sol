// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

// Shared types of the qledger consortium contracts. Timestamps are Unix seconds (UTC).
// Widths are chosen so that the state read on every anchor fits in one storage slot.

/// @dev Member role bits. A member may hold several. Kept as a bitmask (not OZ AccessControl) because
/// membership is granted by consortium vote and the anchoring path must read a member's whole standing
/// (roles, status, accreditation) in one storage read.
library Roles {
    uint8 internal constant LAB = 1 << 0; // accredited testing or calibration laboratory
    uint8 internal constant MANUFACTURER = 1 << 1; // producer of the items under test
    uint8 internal constant REGULATOR = 1 << 2; // market-surveillance authority: opens recalls
    uint8 internal constant AUDITOR = 1 << 3; // assessor: may revoke records for cause
    uint8 internal constant ESCROW_AGENT = 1 << 4; // holds a key share; posts releases for recalls
    // A root of traceability (a national metrology institute): declares its own primary standards with
    // {IInstrumentRegistry-registerReferenceCalibration}. Granted, like every role, only by founding or an
    // admission vote: the consortium's governance decision is the evidence for those standards.
    uint8 internal constant REFERENCE_BODY = 1 << 5;
    uint8 internal constant ALL = LAB | MANUFACTURER | REGULATOR | AUDITOR | ESCROW_AGENT | REFERENCE_BODY;
}

/// @dev Record type codes. A lab's accreditation scope is a bitmask over these codes (bit `code`).
/// NOTE: codes are public API shared with the ledger service: only ever append.
library RecordTypes {
    uint8 internal constant CALIBRATION_CERTIFICATE = 1;
    uint8 internal constant EL_IMAGE = 2;
    uint8 internal constant TENSILE_TEST = 3;
    uint8 internal constant XRF_ANALYSIS = 4;
    uint8 internal constant AI_INSPECTION = 5;
    uint8 internal constant HUMAN_REVIEW = 6;
    uint8 internal constant MAX = 63; // scope masks are 64 bits wide
}

/// @dev Who confirms a recall before escrow agents may release key shares.
enum RecallConfirmation {
    RegulatorAlone, // the opening regulator's word suffices: confirmed on opening
    MemberQuorum // confirmed when the consortium quorum of members approves
}

enum MemberStatus {
    None, // never admitted
    Active, // may anchor, vote and act in its roles
    Suspended // by vote or automatically after too many strikes; reinstated only by vote
}

/// @dev A member's standing: one storage slot, read on every anchor.
struct Member {
    uint8 roles; // bitmask of {Roles}
    MemberStatus status; // current standing
    uint32 strikes; // revoked submissions since admission or last reinstatement
    uint40 admittedAt; // block number of admission (voting eligibility)
    uint40 accreditationValidUntil; // Unix time; 0 = no accreditation
    uint64 recordTypeScope; // bit n set = accredited for record type code n
}

/// @dev A member's accreditation as issued by its accreditation body (ISO/IEC 17025).
struct Accreditation {
    bytes32 body; // accreditation body, e.g. "CNAS" as bytes32 text
    bytes32 number; // accreditation number, e.g. "CNAS L1234" as bytes32 text
    bytes32 scopeDigest; // SM3 of the scope document listing the accredited record types and methods
    uint64 recordTypeScope; // machine-checkable form of the scope: bit n = record type code n
    uint40 validUntil; // Unix time the accreditation expires
}

/// @dev The compact header of a record: the fields the contracts enforce.
/// The full record (canonical JSON) is identified by its SM3 digest and lives off chain.
struct RecordHeader {
    bytes32 recordId; // SM3 of the record's canonical JSON (RFC 8785)
    bytes32 instrumentId; // instrument the measurement was made with
    bytes32 calibrationDigest; // SM3 of the anchored calibration_certificate record covering the instrument
    bytes32 operatorId; // pseudonymous id of the person responsible (ISO/IEC 17025 7.5.1)
    uint64 measuredAt; // Unix time of the measurement
}

/// @dev A calibration named by the records of a tier B batch (records refer to it by index).
struct BatchCalibration {
    bytes32 instrumentId; // instrument the measurements were made with
    bytes32 calibrationDigest; // SM3 of the anchored calibration_certificate record covering it
}

/// @dev The compact header of a record in a tier B batch. The instrument, calibration and operator are
/// indexes into tables sent once per batch: a batch from one line repeats them, and call data is most of
/// the cost of a batch.
struct BatchHeader {
    bytes32 recordId; // SM3 of the record's canonical JSON (RFC 8785)
    uint64 measuredAt; // Unix time of the measurement
    uint16 calibration; // index into the batch's calibrations
    uint16 operator; // index into the batch's operator ids
}

enum Tier {
    None,
    A, // one record per transaction, one slot per record
    B, // enforced batch: every header checked, Merkle root built on chain
    C // hash batch: off-chain Merkle root of record digests
}

enum RecordStatus {
    None, // unknown to the ledger
    Anchored, // anchored and in force
    Revoked, // withdrawn (ISO/IEC 17025 7.8.8); never valid again
    Superseded // replaced by an amended record
}

/// @dev Per-record state: one slot. Written on a tier A anchor, and for batched records on their first
/// status change.
struct RecordState {
    address submitter; // member that anchored the record (or its batch)
    uint40 anchoredAt; // Unix time of the anchor (0 when only a status entry exists)
    Tier tier; // how the record was anchored
    RecordStatus status; // current status
    uint8 recordType; // record type code (tier A and B); 0 for tier C
}

/// @dev A Merkle root anchored in tier B or C: one slot (a tier C root's schema is in its event).
struct RootState {
    address submitter; // member that anchored the root
    uint40 anchoredAt; // Unix time of the anchor
    Tier tier; // B or C
    uint8 recordType; // record type of every leaf (tier B); 0 for tier C
    uint32 count; // number of records under the root
}

/// @dev A calibration of an instrument, keyed by (instrument, certificate digest).
struct Calibration {
    uint40 validFrom; // Unix time; 0 = not registered
    uint40 validUntil; // Unix time (inclusive)
    uint40 registeredAt; // Unix time of registration
    bool withdrawn; // the certificate record was revoked or superseded
    bool external_; // a traceability root: a reference body's primary standard, declared by that body itself
}

/// @dev What an anchored calibration_certificate record certifies, stored with it when the issuing
/// calibration lab anchors it (see {IQualityLedger-anchorCalibration}): the calibrated instrument, its owner
/// and the validity window. Only that owner can register it, and the window is the certificate's.
struct CalibrationTerms {
    bytes32 instrumentId; // the calibrated instrument, as its owner registered it
    address owner; // member owning that instrument
    uint40 validFrom; // Unix time
    uint40 validUntil; // Unix time (inclusive)
}

/// @dev An instrument and its owner (instruments are keyed by owner and id, see {InstrumentRegistry}).
struct Instrument {
    address owner; // member responsible for the instrument
    uint40 registeredAt; // Unix time of registration
    bytes32 modelDigest; // SM3 of the instrument's master data (maker, model, serial, firmware)
}

/// @dev Proof that a record is in the ledger: directly (root = 0) or under a Merkle root anchored by
/// `submitter`. Record and root state are keyed by their submitter (docs/threat-model.md), so the same
/// digest anchored by two members is two records.
struct Inclusion {
    address submitter; // member that anchored the record (or its root)
    bytes32 recordId; // SM3 of the record
    bytes32 root; // zero for a tier A record
    bytes32[] proof; // sibling hashes from leaf to root (sorted-pair keccak256)
}
