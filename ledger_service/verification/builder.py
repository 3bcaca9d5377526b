"""Checks composed into a verifier, in the shape of oa-verify's verificationBuilder: each check says whether it
applies to a target, and what it finds; the builder runs every check, wraps each so that an exception becomes
an ERROR fragment, and gives a fragment for every check (SKIPPED where one does not apply)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ledger_service.verification.context import Context
from ledger_service.verification.fragment import Fragment, FragmentType, Reason, Status, coded_errors, not_valid
from ledger_service.verification.target import Target


@dataclass(frozen=True)
class Check:
    """One check: its name and type, when it applies, and what it verifies."""

    name: str
    type: FragmentType
    applies: Callable[[Target], bool]
    verify: Callable[[Any, Context], Fragment]  # called only with a target that `applies` accepted
    skip_reason: Reason = Reason.DOES_NOT_APPLY
    skip_message: str = "does not apply to this target"

    def skip(self) -> Fragment:
        return not_valid(self.name, self.type, Status.SKIPPED, self.skip_reason, self.skip_message)


Verifier = Callable[[Target, Context], list[Fragment]]


def verification_builder(checks: Sequence[Check]) -> Verifier:
    """A verifier running `checks` in order; names must be unique (a fragment names its check)."""
    names = [c.name for c in checks]
    if len(set(names)) != len(names):
        raise ValueError(f"check names must be unique: {names}")
    guarded = [(c, coded_errors(c.name, c.type)(c.verify)) for c in checks]

    def verify(target: Target, context: Context) -> list[Fragment]:
        return [run(target, context) if check.applies(target) else check.skip() for check, run in guarded]

    return verify
