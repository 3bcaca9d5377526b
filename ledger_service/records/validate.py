"""Validation of an incoming record: schema, then the facts only the ledger knows. Every fault is reported,
each with the path of the field at fault, a stable code and a message; nothing is written for a record
with a fault.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from pydantic import TypeAdapter, ValidationError

from ledger_service.canonical import canonical_json
from ledger_service.digests import sm3
from ledger_service.errors import LedgerError
from ledger_service.records.types import Record


class FaultCode(StrEnum):
    """Stable reason codes of a refused record. NOTE: public API; only ever append."""

    MISSING_FIELD = "MISSING_FIELD"
    UNKNOWN_FIELD = "UNKNOWN_FIELD"
    INVALID_VALUE = "INVALID_VALUE"
    UNKNOWN_RECORD_TYPE = "UNKNOWN_RECORD_TYPE"
    CALIBRATION_NOT_ANCHORED = "CALIBRATION_NOT_ANCHORED"
    CALIBRATION_WRONG_INSTRUMENT = "CALIBRATION_WRONG_INSTRUMENT"
    CALIBRATION_MISMATCH = "CALIBRATION_MISMATCH"
    CALIBRATION_NOT_VALID_AT = "CALIBRATION_NOT_VALID_AT"
    UNKNOWN_OPERATOR = "UNKNOWN_OPERATOR"
    MEASURED_IN_FUTURE = "MEASURED_IN_FUTURE"
    NOT_JSON = "NOT_JSON"  # a record file that is not a JSON object
    FILE_NOT_FOUND = "FILE_NOT_FOUND"  # an attachment file a record file names is not there
    SIGNATURE_INVALID = "SIGNATURE_INVALID"  # an SM2 value that is not its key's signature of this record
    SIGNER_MISMATCH = "SIGNER_MISMATCH"  # signed as performer (reviewer) by someone the record does not name
    SIGNER_NOT_ENROLLED = "SIGNER_NOT_ENROLLED"  # a key the record's lab never enrolled for that person
    SIGNER_WITHDRAWN = "SIGNER_WITHDRAWN"  # a key the lab has withdrawn
    SIGNED_IN_FUTURE = "SIGNED_IN_FUTURE"  # a signature dated later than its submission


@dataclass(frozen=True)
class Fault:
    """One reason a record is refused."""

    path: str  # dotted path of the field, e.g. "instrument.calibration.valid_until"
    code: FaultCode
    message: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "code": str(self.code), "message": self.message}


class RecordInvalid(LedgerError, ValueError):
    """Raised when a record fails validation; `faults` lists every fault found."""

    def __init__(self, faults: list[Fault]) -> None:
        self.faults = faults
        super().__init__("; ".join(f"{f.path}: {f.message}" for f in faults))


@dataclass(frozen=True)
class AnchoredCertificate:
    """What the ledger knows of an anchored, in-force calibration_certificate record."""

    instrument_id: str  # the calibrated instrument
    valid_from: datetime
    valid_until: datetime


class SignerStanding(StrEnum):
    """A signer's key as the record's lab anchored it (docs/formats.md section 2.1)."""

    IN_FORCE = "in_force"
    NOT_ENROLLED = "not_enrolled"
    WITHDRAWN = "withdrawn"


class ValidationContext(Protocol):
    """The ledger's knowledge a record is checked against."""

    def certificate(self, record_id: str) -> AnchoredCertificate | None:
        """The anchored, in-force calibration certificate with this record id, if any."""

    def is_operator(self, lab_member_id: str, operator_id: str) -> bool:
        """Whether `operator_id` is an authorised operator of the lab."""

    def signer_standing(self, lab_member_id: str, signer: str, public_key: bytes) -> SignerStanding:
        """Whether the lab enrolled this key of `signer` and has not withdrawn it (the chain's answer)."""


RECORD_ADAPTER: TypeAdapter[Record] = TypeAdapter(Record)
_PYDANTIC_CODES = {
    "missing": FaultCode.MISSING_FIELD,
    "extra_forbidden": FaultCode.UNKNOWN_FIELD,
    "union_tag_invalid": FaultCode.UNKNOWN_RECORD_TYPE,
    "union_tag_not_found": FaultCode.MISSING_FIELD,
}


def validate_record(raw: Mapping[str, Any], ctx: ValidationContext, now: datetime | None = None) -> Record:
    """The typed record, or RecordInvalid listing every fault (schema and ledger facts together)."""
    faults: list[Fault] = []
    record: Record | None = None
    try:
        record = RECORD_ADAPTER.validate_python(raw)
    except ValidationError as error:
        faults += [fault_from_pydantic(e) for e in error.errors(include_url=False)]
    faults += _ledger_faults(raw, ctx, now or datetime.now(UTC))
    faults += _repeated_attachment_names(raw)
    if record is not None and record.signatures:
        faults += _signature_faults(record.model_dump(mode="json", exclude_none=True), ctx, now or datetime.now(UTC))
    if faults or record is None:
        raise RecordInvalid(faults)
    return record


def normalised_record(raw: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """A record document as the ledger stores it (schema-normalised), and the record id that form hashes to;
    RecordInvalid for a document that is not a record (ledger facts are not checked)."""
    try:
        record = RECORD_ADAPTER.validate_python(raw)
    except ValidationError as error:
        raise RecordInvalid([fault_from_pydantic(e) for e in error.errors(include_url=False)]) from None
    document = record.model_dump(mode="json", exclude_none=True)
    return sm3(canonical_json(document)).hex(), document


def fault_from_pydantic(e: Any) -> Fault:
    loc = [str(p) for p in e["loc"]]
    # A discriminated union puts the chosen tag first in the location: drop it from the field path.
    if loc and loc[0] in _tags():
        loc = loc[1:]
    code = _PYDANTIC_CODES.get(e["type"], FaultCode.INVALID_VALUE)
    if code in (FaultCode.UNKNOWN_RECORD_TYPE, FaultCode.MISSING_FIELD) and not loc:
        loc = ["record_type"]
    return Fault(".".join(loc), code, e["msg"])


def _tags() -> set[str]:
    from ledger_service.records.types import RECORD_TYPE_CODES

    return set(RECORD_TYPE_CODES)


def _get(raw: Mapping[str, Any], *path: str) -> Any:
    node: Any = raw
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else None


def _repeated_attachment_names(raw: Mapping[str, Any]) -> list[Fault]:
    """A confidential record naming one attachment on two entries: decrypted content is held to the plaintext
    its signers signed by name (docs/formats.md section 2.1), so one entry's ciphertext would never be."""
    if not isinstance(raw, Mapping) or raw.get("confidentiality") != "confidential":
        return []  # anything else unreadable is the schema's fault, reported beside
    attachments = raw.get("attachments")
    if not isinstance(attachments, list):
        return []
    faults: list[Fault] = []
    seen: set[str] = set()
    for i, a in enumerate(attachments):
        name = a.get("name") if isinstance(a, Mapping) else None
        if not isinstance(name, str):
            continue  # a name that is not text is the schema's fault
        if name in seen:
            message = f"a confidential record names {name!r} once (its decrypted content is checked by name)"
            faults.append(Fault(f"attachments[{i}].name", FaultCode.INVALID_VALUE, message))
        seen.add(name)
    return faults


def _ledger_faults(raw: Mapping[str, Any], ctx: ValidationContext, now: datetime) -> list[Fault]:
    """Checks against the ledger, run on whatever parts of the raw record are readable."""
    faults: list[Fault] = []
    measured_at = _when(_get(raw, "measured_at"))
    if measured_at is not None and measured_at > now:
        faults.append(Fault("measured_at", FaultCode.MEASURED_IN_FUTURE, "measured_at is later than now"))
    calibration = _get(raw, "instrument", "calibration")
    cert_id = _get(raw, "instrument", "calibration", "certificate_record_id")
    declared_from = _when(_get(raw, "instrument", "calibration", "valid_from"))
    declared_until = _when(_get(raw, "instrument", "calibration", "valid_until"))
    if isinstance(cert_id, str):
        cert = ctx.certificate(cert_id)
        path = "instrument.calibration.certificate_record_id"
        if cert is None:
            faults.append(
                Fault(
                    path,
                    FaultCode.CALIBRATION_NOT_ANCHORED,
                    "not an anchored, in-force calibration certificate",
                )
            )
        else:
            instrument_id = _get(raw, "instrument", "id")
            if isinstance(instrument_id, str) and instrument_id != cert.instrument_id:
                faults.append(
                    Fault(
                        "instrument.id",
                        FaultCode.CALIBRATION_WRONG_INSTRUMENT,
                        f"the certificate calibrates instrument {cert.instrument_id}, not {instrument_id}",
                    )
                )
            if (declared_from, declared_until) != (cert.valid_from, cert.valid_until) and declared_from:
                faults.append(
                    Fault(
                        "instrument.calibration",
                        FaultCode.CALIBRATION_MISMATCH,
                        "validity window differs from the anchored certificate's",
                    )
                )
            declared_from, declared_until = cert.valid_from, cert.valid_until
    if isinstance(calibration, Mapping) and measured_at and declared_from and declared_until:
        if not declared_from <= measured_at <= declared_until:
            faults.append(
                Fault(
                    "measured_at",
                    FaultCode.CALIBRATION_NOT_VALID_AT,
                    f"calibration valid {declared_from.isoformat()} .. {declared_until.isoformat()}",
                )
            )
    lab = _get(raw, "lab", "member_id")
    operator = _get(raw, "operator", "id")
    if isinstance(lab, str) and isinstance(operator, str) and not ctx.is_operator(lab, operator):
        faults.append(Fault("operator.id", FaultCode.UNKNOWN_OPERATOR, f"not an operator of {lab}"))
    return faults


def _signature_faults(document: Mapping[str, Any], ctx: ValidationContext, now: datetime) -> list[Fault]:
    """Every electronic signature the record carries, checked on the form the ledger stores (the one its
    signers signed): a forged value, a key the lab never enrolled or has withdrawn, or a signer the record does
    not name is refused here, not first found by a verifier after the record is anchored under the lab's
    name. A record's signature rule (which types must be signed) is rules.check_signatures."""
    from ledger_service import signatures

    lab = str(_get(document, "lab", "member_id"))
    faults: list[Fault] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(document.get("signatures") or []):
        path = f"signatures[{i}]"
        # The record id covers `signatures`: an entry repeated would be another record id for the same signed
        # record, made without the signer's key (docs/formats.md section 2.1).
        again = seen.setdefault(canonical_json(entry).decode(), i)
        if again != i:
            faults.append(Fault(path, FaultCode.INVALID_VALUE, f"the same signature as signatures[{again}]"))
            continue
        try:
            s = signatures.parse(entry)
        except ValueError as error:
            faults.append(Fault(path, FaultCode.INVALID_VALUE, str(error)))
            continue
        expected = signatures.expected_signer(document, s.meaning)
        if s.signed_at > now:  # the time of signing is part of what is signed (11.50): a later one is false
            faults.append(Fault(f"{path}.signed_at", FaultCode.SIGNED_IN_FUTURE, "signed_at is later than now"))
        elif expected is not None and s.signer != expected:
            message = f"signed as {s.meaning} by {s.signer}; the record names {expected}"
            faults.append(Fault(f"{path}.signer", FaultCode.SIGNER_MISMATCH, message))
        elif not signatures.holds(document, s):
            message = f"not {s.signer}'s signature of this record (sign the stored form: `qledger sign`)"
            faults.append(Fault(f"{path}.value", FaultCode.SIGNATURE_INVALID, message))
        else:
            standing = ctx.signer_standing(lab, s.signer, s.public_key.to_bytes())
            if standing is SignerStanding.NOT_ENROLLED:
                message = f"{lab} never enrolled this key of {s.signer} (`qledger operators enrol`)"
                faults.append(Fault(f"{path}.public_key", FaultCode.SIGNER_NOT_ENROLLED, message))
            elif standing is SignerStanding.WITHDRAWN:
                message = f"{lab} withdrew this key of {s.signer}"
                faults.append(Fault(f"{path}.public_key", FaultCode.SIGNER_WITHDRAWN, message))
    return faults
