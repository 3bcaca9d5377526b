"""Who may do what: the rules that every face of qledger (the API, the CLI) enforces through these functions,
so a new face cannot forget one; the contracts check them again on chain. See docs/threat-model.md.

- A member submits records only as itself (the record's `lab.member_id`), and only record types its
  accreditation covers.
- A record is revoked by its owner, or for cause by a regulator or an auditor; superseded by its owner only.
- A confidential record is read by its owner, and by a regulator while a recall in force unlocks it
  (consortium.recall.recall_access); to anyone else it does not exist.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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


def check_submission(member: str, raw: Mapping[str, Any], accredited: Callable[[int], bool]) -> None:
    """Refuse a record that names another lab, or whose type `member` is not accredited for (`accredited`
    answers for a record type code; a type that does not exist is left to validation)."""
    lab = raw.get("lab", {}).get("member_id") if isinstance(raw.get("lab"), Mapping) else None
    if lab is not None and lab != member:
        raise Forbidden("WRONG_MEMBER", f"authenticated as {member}, the record names {lab}", "lab.member_id")
    code = RECORD_TYPE_CODES.get(str(raw.get("record_type")))
    if code is not None and not accredited(code):
        raise Forbidden("NOT_ACCREDITED", f"{member} is not accredited for {raw.get('record_type')}", "record_type")


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
