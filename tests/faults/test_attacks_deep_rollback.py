"""Attack on property 6 of issue 13 (a chain that loses blocks): a node restarted from state older than the
anchors' confirmations (anvil killed mid-ingest came back 113 blocks short), whose chain grew back past the
lost blocks before the service looked again.

The index stops comparing an anchor's block with the chain once it is `confirmations` deep (final), except
for anchors beyond the chain's head. Lost deeper than that, and regrown, the record stayed "anchored" in the
index for good: never queued again, never anchored again, its verification by record id INVALID. Failed on
main. On a real anvil rolled back with its own evm_snapshot/evm_revert."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger_service.config import Settings
from ledger_service.demo import LAB, Demo
from ledger_service.index.models import AnchorRow
from ledger_service.runtime import Runtime, open_runtime
from ledger_service.verification import is_valid
from tests.utils.anvil import anvil_node
from tests.utils.chain import anchors_on_chain, rpc


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Runtime, Demo]]:
    with anvil_node("--hardfork", "cancun") as url:
        runtime = open_runtime(Settings(data_dir=tmp_path, chain_url=url))
        demo = Demo(runtime.service, runtime.keys)
        demo.found_consortium()
        demo.calibrate_instruments()
        yield runtime, demo
        runtime.engine.dispose()


def _anchor(runtime: Runtime, record_id: str) -> AnchorRow:
    with runtime.service.sessions() as session:
        row = session.get(AnchorRow, record_id)
        assert row is not None
        session.expunge(row)
        return row


def test_final_anchors_lost_by_a_deeper_rollback_are_anchored_again_once(world: tuple[Runtime, Demo]) -> None:
    runtime, demo = world
    service, chain = runtime.service, runtime.service.chain
    snapshot = rpc(chain, "evm_snapshot")
    ids = [service.submit(*demo.record(kind, 80 + i), actor=LAB).record_id
           for i, kind in enumerate(("tensile_test", "el_image", "xrf_analysis"))]  # fmt: skip
    service.pin_pending()
    assert service.anchor_pending() == 3
    for _ in range(service.confirmations + 2):
        rpc(chain, "evm_mine")
    service.check_anchors()
    assert all(_anchor(runtime, r).confirmed for r in ids)  # final: the index stops looking

    rpc(chain, "evm_revert", snapshot)  # restarted from older state: the anchors' blocks are gone ...
    for _ in range(service.confirmations + 20):
        rpc(chain, "evm_mine")  # ... and the chain grew back past them before the service looked again
    assert not any(is_valid(service.verify(r)) for r in ids)

    service.anchor_pending()  # its pass compares the index with the chain first
    service.anchor_pending()
    counts = anchors_on_chain(chain)
    for record_id in ids:
        assert is_valid(service.verify(record_id)), [f.to_json() for f in service.verify(record_id)]
        if _anchor(runtime, record_id).tier != "C":
            assert counts[record_id] == 1
