"""Without an anchored escrow policy a confidential record is refused, not stored unprotected; the policy in
force is the one anchored on chain."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger_service import merkle
from ledger_service.config import Settings
from ledger_service.demo import LAB, REG, Demo
from ledger_service.records import RecordInvalid
from ledger_service.runtime import open_runtime


def test_confidential_needs_a_policy_and_the_policy_is_anchored(tmp_path: Path) -> None:
    runtime = open_runtime(Settings(data_dir=tmp_path))
    demo = Demo(runtime.service, runtime.keys)
    demo.found_consortium()
    demo.calibrate_instruments()
    raw, files = demo.record("xrf_analysis", 1)
    raw["confidentiality"] = "confidential"
    with pytest.raises(RecordInvalid) as refused:
        runtime.service.submit(raw, files, actor=LAB)
    assert [(f.path, f.code) for f in refused.value.faults] == [("confidentiality", "INVALID_VALUE")]

    digest = demo.configure_escrow()
    policy = runtime.service.escrow_policy()
    assert policy is not None and policy.digest().hex() == digest and policy.k == 3 and len(policy.agents) == 5
    root = merkle.root([bytes.fromhex(digest)])
    regulator = runtime.service.account_of(REG)
    state = runtime.service.chain._call(runtime.service.chain.ledger.functions.rootOf(regulator, root))
    assert state[0] == regulator and state[1] > 0  # anchored by the regulator (roots are keyed by submitter)
    assert runtime.service.submit(raw, files, actor=LAB).created
