"""CalibrationValidity: the calibration the record cites is registered on the lab's own instrument, not
withdrawn, states the window the chain holds, and covered the moment of measurement."""

from __future__ import annotations

from ledger_service.ids import instrument_key, measured_at
from ledger_service.verification.builder import Check
from ledger_service.verification.checks._support import is_record, lab_account, unix_of
from ledger_service.verification.context import Context
from ledger_service.verification.fragment import Fragment, Reason, Status, not_valid, valid
from ledger_service.verification.target import RecordTarget

NAME = "CalibrationValidity"


def verify(target: RecordTarget, context: Context) -> Fragment:
    rec, chain = target.evidence.record, context.chain
    cert = bytes.fromhex(rec["instrument"]["calibration"]["certificate_record_id"])
    # Instruments are keyed by owner: the calibration counts only on the lab's own instrument.
    window = chain.calibration_of(instrument_key(rec["instrument"]["id"]), cert, lab_account(target.evidence, chain))
    if window["valid_from"] == 0:
        return not_valid(
            NAME,
            "calibration",
            Status.INVALID,
            Reason.CALIBRATION_NOT_ANCHORED,
            "no such calibration is registered",
        )
    anchor = target.evidence.anchor
    if anchor is not None and anchor.tier in ("B", "C") and anchor.root:
        # Tier A is refused on chain unless the calibration its event names is registered when it is anchored.
        # A tier C root carries no header, and tier B's headers are the calldata's, bound to no record (one
        # can name a registered calibration for a record that cites another): so the record's own calibration
        # must have been registered by its root's anchoring, else one registered later would calibrate a
        # record measured before it after the fact (docs/threat-model.md).
        anchored_at = chain.root_of(bytes.fromhex(anchor.root), lab_account(target.evidence, chain))["anchored_at"]
        if anchored_at and window["registered_at"] > anchored_at:
            return not_valid(
                NAME,
                "calibration",
                Status.INVALID,
                Reason.CALIBRATION_NOT_ANCHORED,
                "the calibration was registered after the record's batch or root was anchored",
                registered_at=window["registered_at"],
                anchored_at=anchored_at,
            )
    if window["withdrawn"]:
        # Set by the contract when the certificate's own issuer (or a regulator) revoked or superseded it.
        return not_valid(
            NAME, "calibration", Status.INVALID, Reason.CALIBRATION_REVOKED, "the certificate was withdrawn"
        )
    stated = rec["instrument"]["calibration"]
    if "valid_from" in stated and (unix_of(stated["valid_from"]), unix_of(stated["valid_until"])) != (
        window["valid_from"],
        window["valid_until"],
    ):
        return not_valid(
            NAME,
            "calibration",
            Status.INVALID,
            Reason.CALIBRATION_MISMATCH,
            "the record states another calibration window than the chain holds",
            valid_from=window["valid_from"],
            valid_until=window["valid_until"],
        )
    t = measured_at(rec)
    if not window["valid_from"] <= t <= window["valid_until"]:
        return not_valid(
            NAME,
            "calibration",
            Status.INVALID,
            Reason.CALIBRATION_EXPIRED,
            "the calibration did not cover measured_at",
            valid_from=window["valid_from"],
            valid_until=window["valid_until"],
        )
    return valid(NAME, "calibration", certificate=cert.hex(), valid_until=window["valid_until"])


CHECK = Check(NAME, "calibration", is_record, verify)
