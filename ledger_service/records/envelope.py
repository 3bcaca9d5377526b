"""The record envelope shared by every record type (docs/formats.md section 2; ISO/IEC 17025 7.8.2.1 and 7.5.1).

Field names are the wire format: they appear in the canonical JSON whose SM3 is the record id, so renaming one
is a schema version change.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Hex32 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
"""A 32-byte digest as 64 lowercase hex characters (SM3 or SHA-256)."""


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must carry a time zone (RFC 3339), e.g. 2026-11-28T09:30:00Z")
    return value.astimezone(UTC)


UtcDateTime = Annotated[datetime, AfterValidator(_utc)]


class Model(BaseModel):
    """Strict base: unknown fields are refused, so nothing unsigned rides along."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# The laboratory issuing the record (7.8.2.1 b) and its consortium membership.
class Lab(Model):
    member_id: NonEmpty  # consortium member (organisation id or chain account)
    name: NonEmpty
    address: NonEmpty


# The customer the work was done for (7.8.2.1 e).
class Customer(Model):
    name: NonEmpty
    contact: NonEmpty


# The item tested or calibrated (7.8.2.1 g) and its place in the supply chain.
class Subject(Model):
    description: NonEmpty
    unambiguous_id: NonEmpty
    condition: str | None = None
    product: str | None = None
    lot: str | None = None
    serial: str | None = None
    gtin: Annotated[str, StringConstraints(pattern=r"^\d{8,14}$")] | None = None


# The method used, standard and edition (7.8.2.1 f).
class Method(Model):
    standard: NonEmpty
    edition: NonEmpty
    id: str | None = None


# The anchored calibration certificate covering the instrument at measured_at (6.4.13, 7.8.4).
class CalibrationRef(Model):
    certificate_record_id: Hex32  # SM3 record id of the anchored calibration_certificate record
    valid_from: UtcDateTime
    valid_until: UtcDateTime


# The instrument the measurement was made with (6.4.13 a, b, e).
class Instrument(Model):
    id: NonEmpty
    maker: NonEmpty
    model: NonEmpty
    serial: NonEmpty
    sw_fw_version: str | None = None
    calibration: CalibrationRef


# The person responsible for the activity (7.5.1) and, optionally, their signature over the record.
class Operator(Model):
    id: NonEmpty
    signature: str | None = None


# The person authorising the report (7.8.2.1 o).
class Authorization(Model):
    name: NonEmpty
    role: NonEmpty
    signature: str | None = None


# An electronic signature of a person of the lab over the record's canonical digest (21 CFR 11.50, 11.70;
# docs/formats.md section 2.1): who, with what meaning, when, with which enrolled key.
MAX_SIGNATURES = 12  # a record's electronic signatures: performed, reviewed and approved, a few of each


class Signature(Model):
    signer: NonEmpty
    meaning: Literal["performed", "reviewed", "approved"]
    signed_at: Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")]
    algorithm: Literal["SM2-SM3"]
    public_key: Annotated[str, StringConstraints(pattern=r"^04[0-9a-f]{128}$")]
    value: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/]{86}==$")]


# A file belonging to the record, identified by its digests (and CID once pinned).
class Attachment(Model):
    name: NonEmpty
    media_type: Annotated[str, StringConstraints(pattern=r"^[a-z]+/[a-zA-Z0-9.+_-]+$")]
    size: int = Field(ge=0)
    sm3: Hex32
    sha256: Hex32
    cid: str | None = None


# A typed link to another record.
class Link(Model):
    rel: Literal["calibrated_by", "supersedes", "derived_from", "reviewed_by"]
    record_id: Hex32


# Fields every record type has; each record type adds `record_type` and its `results`.
class EnvelopeBase(Model):
    schema_version: Literal["1"] = "1"
    title: NonEmpty
    report_id: NonEmpty
    lab: Lab
    activity_location: NonEmpty
    customer: Customer
    subject: Subject
    method: Method
    measured_at: UtcDateTime
    date_issued: date
    instrument: Instrument
    operator: Operator
    checker_id: NonEmpty
    authorized_by: Authorization
    statement_results_relate_only_to_items: Literal[True]
    attachments: list[Attachment] = Field(default_factory=list)  # a factory: a [] default is deep-copied
    links: list[Link] = Field(default_factory=list)
    confidentiality: Literal["public", "confidential"] = "public"
    # Absent (not empty) when unsigned: older record ids are kept, and `[]` would be a second record id for an
    # unsigned record. Bounded: each one costs an SM2 verification and chain reads at ingest (docs/formats.md
    # section 2.1).
    signatures: Annotated[list[Signature], Field(min_length=1, max_length=MAX_SIGNATURES)] | None = None
