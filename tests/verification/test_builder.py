"""The builder's order of a run (unit test, stand-in checks): every check gives a fragment, SKIPPED where it does
not apply; a quiet check gives none where it does not apply; a gate whose fragment is not VALID ends the run;
an exception is an ERROR fragment, and check names are unique."""

from __future__ import annotations

from typing import Any

import pytest

from ledger_service.verification import CertificateTarget, Check, Context, Fragment, Reason, Status, not_valid
from ledger_service.verification.builder import verification_builder
from ledger_service.verification.fragment import valid


def _check(name: str, status: Status | None = Status.VALID, **marks: Any) -> Check:
    """A check that applies when `status` is not None and then gives a fragment of that status."""

    def verify(target: Any, context: Context) -> Fragment:
        if status is Status.ERROR:
            raise RuntimeError("a bug")
        if status is Status.VALID:
            return valid(name, "certificate")
        assert status is not None
        return not_valid(name, "certificate", status, Reason.DIGEST_MISMATCH, "no")

    return Check(name, "certificate", lambda target: status is not None, verify, **marks)


CONTEXT = Context(chain=None, trusted=None)  # type: ignore[arg-type]
TARGET = CertificateTarget(b"%PDF-")


def _seen(checks: list[Check]) -> list[tuple[str, str]]:
    return [(f.name, str(f.status)) for f in verification_builder(checks)(TARGET, CONTEXT)]


def test_skipped_quiet_and_errors() -> None:
    assert _seen([_check("A"), _check("B", None), _check("C", None, quiet=True), _check("D", Status.ERROR)]) == [
        ("A", "VALID"), ("B", "SKIPPED"), ("D", "ERROR"),
    ]  # fmt: skip


def test_a_gate_not_valid_ends_the_run() -> None:
    assert _seen([_check("A", gate=True), _check("B")]) == [("A", "VALID"), ("B", "VALID")]
    assert _seen([_check("A"), _check("G", Status.INVALID, gate=True), _check("B")]) == [
        ("A", "VALID"), ("G", "INVALID"),
    ]  # fmt: skip
    assert _seen([_check("G", Status.ERROR, gate=True), _check("B")]) == [("G", "ERROR")]
    # A quiet gate that does not apply says nothing and stops nothing.
    assert _seen([_check("G", None, gate=True, quiet=True), _check("B")]) == [("B", "VALID")]


def test_names_are_unique() -> None:
    with pytest.raises(ValueError, match="unique"):
        verification_builder([_check("A"), _check("A")])
