"""Decode a contract's revert data into the custom error that caused it.

Custom errors reach JSON-RPC clients as raw bytes: a 4-byte selector, then the ABI-encoded arguments.
Every error declared by the consortium contracts is looked up by selector here, once.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.crypto import keccak

from ledger_service.chain.artifacts import CONTRACT_NAMES, load_artifact
from ledger_service.errors import ChainError, TransactionReverted

# Contract custom errors -> qledger's stable codes (shared with record validation where the rule is the same).
# NOTE: codes are public API: only ever append.
ERROR_CODES: dict[str, str] = {
    "QualityLedgerZeroRecordId": "INVALID_RECORD_ID",
    "QualityLedgerZeroInstrument": "MISSING_FIELD",
    "QualityLedgerZeroCalibration": "MISSING_FIELD",
    "QualityLedgerZeroOperator": "MISSING_FIELD",
    "QualityLedgerCalibrationNotRegistered": "CALIBRATION_NOT_ANCHORED",
    "QualityLedgerCalibrationWithdrawn": "CALIBRATION_WITHDRAWN",
    "QualityLedgerCalibrationNotValidAt": "CALIBRATION_NOT_VALID_AT",
    "QualityLedgerMeasuredInFuture": "MEASURED_IN_FUTURE",
    "QualityLedgerSubmitterNotActive": "MEMBER_NOT_ACTIVE",
    "QualityLedgerSubmitterNotAccredited": "NOT_ACCREDITED",
    "QualityLedgerAccreditationExpired": "ACCREDITATION_EXPIRED",
    "QualityLedgerInvalidRecordType": "UNKNOWN_RECORD_TYPE",
    "QualityLedgerRecordExists": "ALREADY_ANCHORED",
    "QualityLedgerRootExists": "ALREADY_ANCHORED",
    "QualityLedgerUnknownRecord": "NOT_ANCHORED",
    "QualityLedgerUnknownRoot": "NOT_ANCHORED",
    "QualityLedgerNotIncluded": "NOT_ANCHORED",
    "QualityLedgerRecordNotInForce": "NOT_IN_FORCE",
    "QualityLedgerUnauthorized": "FORBIDDEN",
    "InstrumentZeroId": "MISSING_FIELD",
    "InstrumentExists": "ALREADY_REGISTERED",
    "InstrumentUnknown": "UNKNOWN_INSTRUMENT",
    "CalibrationInvalidWindow": "INVALID_VALUE",
    "CalibrationExists": "ALREADY_REGISTERED",
    "InstrumentNotActiveMember": "MEMBER_NOT_ACTIVE",
    "InstrumentNotReferenceBody": "FORBIDDEN",
    "CalibrationCertificateNotAnchored": "CALIBRATION_NOT_ANCHORED",
    "RecallNotRegulator": "FORBIDDEN",
    "RecallNotEscrowAgent": "FORBIDDEN",
    "RecallUnauthorized": "FORBIDDEN",
    "RecallNotConfirmed": "RECALL_NOT_CONFIRMED",
    "RecallIsClosed": "RECALL_CLOSED",
    "QualityLedgerNotSubmitter": "FORBIDDEN",
    "QualityLedgerInvalidCalibrationTerms": "INVALID_VALUE",
    "CalibrationNotForInstrument": "CALIBRATION_NOT_ANCHORED",
    "ConsortiumOrganisationExists": "ALREADY_REGISTERED",
    "ConsortiumAlreadyVoted": "ALREADY_VOTED",
    "ConsortiumInvalidAccreditation": "INVALID_VALUE",
    "ConsortiumInvalidQuorum": "INVALID_VALUE",
    "ConsortiumInvalidRoles": "INVALID_VALUE",
    "ConsortiumInvalidStrikeThreshold": "INVALID_VALUE",
    "ConsortiumLedgerAlreadyBound": "ALREADY_REGISTERED",
    "ConsortiumMemberExists": "ALREADY_REGISTERED",
    "ConsortiumMemberNotSuspended": "NOT_SUSPENDED",
    "ConsortiumNotActiveMember": "MEMBER_NOT_ACTIVE",
    "ConsortiumProposalExecuted": "PROPOSAL_CLOSED",
    "ConsortiumProposalExpired": "PROPOSAL_EXPIRED",
    "ConsortiumUnauthorized": "FORBIDDEN",
    "ConsortiumUnknownProposal": "UNKNOWN_PROPOSAL",
    "ConsortiumVoterNotEligible": "FORBIDDEN",
    "ConsortiumZeroAddress": "MISSING_FIELD",
    "QualityLedgerBatchBadReference": "BATCH_INVALID",
    "QualityLedgerBatchNotSorted": "BATCH_INVALID",
    "QualityLedgerEmptyBatch": "BATCH_INVALID",
    "QualityLedgerSelfSupersede": "INVALID_VALUE",
    "QualityLedgerZeroRoot": "MISSING_FIELD",
    "RecallAlreadyApproved": "ALREADY_VOTED",
    "RecallAlreadyConfirmed": "RECALL_CONFIRMED",
    "RecallApproverNotEligible": "FORBIDDEN",
    "RecallEmptyRelease": "MISSING_FIELD",
    "RecallNotMember": "FORBIDDEN",
    "RecallReleaseExists": "ALREADY_REGISTERED",
    "RecallUnknown": "UNKNOWN_RECALL",
    "RecallZeroScope": "MISSING_FIELD",
    "SafeCastOverflowedUintDowncast": "INVALID_VALUE",
    "StandingMirrorNotRegistry": "FORBIDDEN",
}


def _type_of(param: dict[str, Any]) -> str:
    """Canonical ABI type of a parameter, with tuples expanded."""
    kind: str = param["type"]
    if kind.startswith("tuple"):
        inner = ",".join(_type_of(c) for c in param["components"])
        return f"({inner}){kind[len('tuple') :]}"
    return kind


@cache
def error_table() -> dict[bytes, tuple[str, tuple[str, ...], tuple[str, ...]]]:
    """selector -> (error name, parameter names, parameter types) over every consortium contract."""
    table: dict[bytes, tuple[str, tuple[str, ...], tuple[str, ...]]] = {}
    for contract in CONTRACT_NAMES:
        for item in load_artifact(contract).abi:
            if item.get("type") != "error":
                continue
            types = tuple(_type_of(p) for p in item["inputs"])
            names = tuple(p["name"] or f"arg{i}" for i, p in enumerate(item["inputs"]))
            selector = keccak(text=f"{item['name']}({','.join(types)})")[:4]
            table[selector] = (item["name"], names, types)
    return table


def revert_data(error: BaseException) -> bytes | None:
    """The revert bytes carried by a client exception, wherever the client put them.

    web3's ContractCustomError holds them as hex in `.data`; eth-tester raises TransactionFailed whose cause
    (py-evm's Revert) holds them as bytes in `.args`.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        data = getattr(current, "data", None)
        if isinstance(data, str) and data.startswith("0x") and len(data) >= 10:
            return bytes.fromhex(data[2:])
        if isinstance(data, bytes) and len(data) >= 4:
            return data
        for arg in current.args:
            if isinstance(arg, bytes) and len(arg) >= 4:
                return arg
        current = current.__cause__ or current.__context__
    return None


def decode_revert(data: bytes) -> TransactionReverted:
    """The custom error in `data`; raises ChainError when the selector is not one of ours."""
    if len(data) < 4:
        raise ChainError(f"revert without a custom error (data 0x{data.hex()})")
    entry = error_table().get(data[:4])
    if entry is None:
        raise ChainError(f"revert with an unknown selector 0x{data[:4].hex()}")
    name, names, types = entry
    values = abi_decode(list(types), data[4:])
    arguments = dict(zip(names, values, strict=True))
    return TransactionReverted(name, arguments, "0x" + data[:4].hex(), ERROR_CODES.get(name, "CHAIN_REFUSED"))
