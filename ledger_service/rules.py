"""Who may do what: the rules that every face of qledger (the API, the CLI) enforces through these functions,
so a new face cannot forget one; the contracts check them again on chain. See docs/threat-model.md.

- A member submits records only as itself (the record's `lab.member_id`), and only record types its
  accreditation covers.
- A record of a type its lab's profile requires operator signatures on carries its operator's signature
  (meaning "performed"); whether that signature holds is for verification (OperatorSignature).
- A record is revoked by its owner, or for cause by a regulator or an auditor; superseded by its owner only.
- A confidential record is read by its owner, and by a regulator while a recall in force unlocks it
  (consortium.recall.recall_access); to anyone else it does not exist.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from ledger_service.chain.types import Role
from ledger_service.errors import LedgerError
from ledger_service.records import RECORD_TYPE_CODES


class Forbidden(LedgerError, PermissionError):
    """A rule refuses the caller: `code` is the stable problem code, `field` the part of the request at fault."""

    def __init__(self, code: str, message: str, field: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.field = field


def check_submission(
    member: str, raw: Mapping[str, Any], accredited: Callable[[int], bool], signed_types: Collection[str] = ()
) -> None:
    """Refuse a record that names another lab, whose type `member` is not accredited for (`accredited`
    answers for a record type code; a type that does not exist is left to validation), or that lacks the
    operator's signature its type needs in `member`'s profile (`signed_types`: check_signatures)."""
    lab = raw.get("lab", {}).get("member_id") if isinstance(raw.get("lab"), Mapping) else None
    if lab is not None and lab != member:
        raise Forbidden("WRONG_MEMBER", f"authenticated as {member}, the record names {lab}", "lab.member_id")
    code = RECORD_TYPE_CODES.get(str(raw.get("record_type")))
    if code is not None and not accredited(code):
        raise Forbidden("NOT_ACCREDITED", f"{member} is not accredited for {raw.get('record_type')}", "record_type")
    check_signatures(raw, signed_types)


def check_signatures(raw: Mapping[str, Any], signed_types: Collection[str]) -> None:
    """Refuse a record of a type in `signed_types` (its lab's profile: station.signed_record_types) that its
    operator has not signed as performer (docs/formats.md section 2.1)."""
    kind = str(raw.get("record_type"))
    if kind not in signed_types:
        return
    operator = raw.get("operator", {}).get("id") if isinstance(raw.get("operator"), Mapping) else None
    entries = raw.get("signatures")
    signed = isinstance(entries, list) and any(
        isinstance(e, Mapping) and e.get("meaning") == "performed" and e.get("signer") == operator and _parses(e)
        for e in entries
    )
    if not signed:
        raise Forbidden(
            "SIGNATURE_REQUIRED",
            f"{kind} records must carry their operator's signature (performed by {operator}): sign the file "
            "with `qledger sign` first",
            "signatures",
        )


def _parses(entry: Mapping[str, Any]) -> bool:
    """Whether a signature entry is one at all (every field, a key and a value that decode): an entry that only
    says `performed` by the operator was taken as the signature the rule asks for."""
    from ledger_service import signatures

    try:
        signatures.parse(entry)
    except ValueError:
        return False
    return True


def check_revoke(member: str, roles: int, owner: str) -> None:
    if member != owner and not roles & (Role.REGULATOR | Role.AUDITOR):
        raise Forbidden("FORBIDDEN", "only the record's owner, a regulator or an auditor may revoke it", "record_id")


def check_supersede(member: str, owner: str) -> None:
    if member != owner:
        raise Forbidden("FORBIDDEN", "only the record's owner may supersede it", "record_id")


def may_read(member: str, owner: str, confidentiality: str, unlocked: Callable[[], bool]) -> bool:
    """Whether `member` may read a record; `unlocked` (asked only when it matters) says whether a recall in
    force opens it to `member`."""
    return confidentiality != "confidential" or member == owner or unlocked()
