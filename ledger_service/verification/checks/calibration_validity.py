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
    if anchor is not None and anchor.tier == "C" and anchor.root:
        # Tiers A and B are refused on chain unless the calibration is registered when they are anchored; a tier
        # C root carries no header, so the same holds here: a calibration registered after the root cannot
        # make a record measured before it calibrated after the fact (docs/threat-model.md).
        anchored_at = chain.root_of(bytes.fromhex(anchor.root), lab_account(target.evidence, chain))["anchored_at"]
        if anchored_at and window["registered_at"] > anchored_at:
            return not_valid(
                NAME,
                "calibration",
                Status.INVALID,
                Reason.CALIBRATION_NOT_ANCHORED,
                "the calibration was registered after the record's root was anchored",
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
