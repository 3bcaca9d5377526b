"""IssuerStanding judges a tier C root by what the registry's events say held when it was anchored (docs/
architecture.md section 7). The genuine ledger refuses a root from a lab that is not active, so a suspended
lab's root is built here over a stand-in chain reader (a unit test): the check says ISSUER_SUSPENDED; the
event replay it rests on is tested on its own."""

from __future__ import annotations

from typing import Any, cast

from ledger_service.canonical import canonical_json
from ledger_service.chain.web3_client import ChainReader
from ledger_service.digests import sm3
from ledger_service.records import RECORD_TYPE_CODES
from ledger_service.verification import Anchor, Context, Evidence, RecordTarget, Status
from ledger_service.verification.checks import issuer_standing
from ledger_service.verification.checks.issuer_standing import standing_at
from tests.utils.records import valid_raw

LAB = "0x" + "aa" * 20
ROOT = b"\x07" * 32
XRF = RECORD_TYPE_CODES["xrf_analysis"]


def _event(name: str, block: int, index: int, **args: Any) -> dict[str, Any]:
    return {"event": name, "block_number": block, "log_index": index, **args}


def _accreditation(scope: int, until: int) -> dict[str, Any]:
    return {"recordTypeScope": scope, "validUntil": until}


HISTORY = [
    _event("MemberAdmitted", 5, 0),
    _event("AccreditationUpdated", 5, 1, accreditation=_accreditation(1 << XRF, 2_000)),
    _event("MemberSuspended", 9, 3),
    _event("MemberReinstated", 12, 0),
    _event("AccreditationUpdated", 14, 2, accreditation=(b"", b"", b"", 0, 3_000)),  # as a tuple, scope gone
]


def test_the_replay_gives_what_held_just_before_a_log() -> None:
    assert standing_at(HISTORY, (5, 0)).active is False  # not yet admitted
    assert standing_at(HISTORY, (5, 1)) == issuer_standing.Standing(True, 0, 0)  # admitted, accreditation next
    assert standing_at(HISTORY, (9, 3)) == issuer_standing.Standing(True, 1 << XRF, 2_000)
    assert standing_at(HISTORY, (9, 4)).active is False
    assert standing_at(HISTORY, (13, 0)) == issuer_standing.Standing(True, 1 << XRF, 2_000)
    assert standing_at(HISTORY, (14, 3)) == issuer_standing.Standing(True, 0, 3_000)


class _Chain:
    """A chain reader's answers for one tier C root of LAB's, anchored at (block, log index) `at`."""

    def __init__(self, at: tuple[int, int]) -> None:
        self.at = at

    def member_account(self, member_id: str) -> str:
        return LAB

    def root_of(self, root: bytes, submitter: str | None = None) -> dict[str, Any]:
        return {"submitter": LAB, "anchored_at": 1_000, "tier": 2, "record_type": 0, "count": 1}

    def member_of(self, account: str) -> dict[str, Any]:
        return {"status": 1, "record_type_scope": 1 << XRF, "accreditation_valid_until": 9_999}  # as it is now

    def anchor_events(self, tx_hash: bytes) -> list[dict[str, Any]]:
        block, index = self.at
        return [{"event": "RootAnchored", "root": ROOT, "submitter": LAB, "block_number": block, "log_index": index}]

    def standing_history(self, account: str, through_block: int) -> list[dict[str, Any]]:
        return HISTORY


def _fragment(at: tuple[int, int]) -> tuple[Status, str | None]:
    record = valid_raw("xrf_analysis")
    anchor = Anchor("C", 31337, "0x" + "22" * 20, "0x" + "ab" * 32, at[0], None, ROOT.hex(), [])
    target = RecordTarget(Evidence(record=record, record_id=sm3(canonical_json(record)).hex(), anchor=anchor))
    context = Context(cast(ChainReader, _Chain(at)), None)
    f = issuer_standing.verify(target, context)
    return f.status, (f.reason or {}).get("code")


def test_a_root_anchored_while_suspended_is_issuer_suspended_though_the_lab_is_active_now() -> None:
    assert _fragment((10, 0)) == (Status.INVALID, "ISSUER_SUSPENDED")
    assert _fragment((6, 0)) == (Status.VALID, None)
    assert _fragment((15, 0)) == (Status.INVALID, "ISSUER_NOT_ACCREDITED")  # the scope it has now is no help
