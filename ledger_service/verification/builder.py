"""Checks composed into a verifier, in the shape of oa-verify's verificationBuilder: each check says whether it
applies to a target, and what it finds; the builder runs every check, wraps each so that an exception becomes
an ERROR fragment, and gives a fragment for every check (SKIPPED where one does not apply). Two marks order a
run where one check's finding leaves nothing for the next to look at: a `gate` whose fragment is not VALID ends
the run (a PDF with no credential has nothing else to check), and a `quiet` check gives no fragment where it
does not apply (one that speaks only to say why the checks after it cannot run)."""

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
    gate: bool = False  # its fragment not VALID: the checks after it do not run and give no fragment
    quiet: bool = False  # no fragment (not SKIPPED) where it does not apply

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
        out = []
        for check, run in guarded:
            if check.applies(target):
                fragment = run(target, context)
            elif check.quiet:
                continue
            else:
                fragment = check.skip()
            out.append(fragment)
            if check.gate and fragment.status is not Status.VALID:
                break
        return out

    return verify
