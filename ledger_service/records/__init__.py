"""Record types, their schemas and their validation."""

from ledger_service.records.types import RECORD_TYPE_CODES, Record
from ledger_service.records.validate import (
    AnchoredCertificate,
    Fault,
    FaultCode,
    RecordInvalid,
    SignerStanding,
    ValidationContext,
    validate_record,
)

__all__ = [
    "RECORD_TYPE_CODES",
    "AnchoredCertificate",
    "Fault",
    "FaultCode",
    "Record",
    "RecordInvalid",
    "SignerStanding",
    "ValidationContext",
    "validate_record",
]
