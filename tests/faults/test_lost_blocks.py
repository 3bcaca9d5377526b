"""anvil SIGKILLed mid-ingest, restarted from its state file on the same port: the blocks it mined since its
last state write are gone, with the anchoring transactions in them. The service (a real LedgerService and
its anchoring worker over JSON-RPC) notices, anchors those records again, and every one of the 2,000 records
ends anchored exactly once: once in the index, once across the whole chain, and verified VALID."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ledger_service import station
from ledger_service.api.worker import AnchorWorker
from ledger_service.chain.web3_client import ChainReader
from ledger_service.config import Settings
from ledger_service.demo import LAB, Demo
from ledger_service.images import el_cell_png
from ledger_service.index.models import AnchorRow, AttemptRow, RecordRow
from ledger_service.localnode import anvil_process
from ledger_service.runtime import Runtime, open_runtime
from ledger_service.verification import RecordTarget, is_valid, record_context, verify_many
from tests.utils.anvil import free_port
from tests.utils.chain import anchors_on_chain

N = 2000
CHUNK = 40  # records per submission: anchoring goes on in many small batches while the node dies
CHAIN_ARGS = ("--hardfork", "cancun", "--state-interval", "1")  # anvil writes its state every second


def until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def anchors(runtime: Runtime) -> dict[str, tuple[str, int, str | None]]:
    with runtime.service.sessions() as session:
        rows = session.execute(select(AnchorRow.record_id, AnchorRow.tx_hash, AnchorRow.block_number,
                                      AnchorRow.block_hash)).all()  # fmt: skip
    return {r: (tx, n, h) for r, tx, n, h in rows}


def settled(runtime: Runtime, ids: list[str]) -> bool:
    """Every record anchored in the index, no transaction open, and each anchor where the chain has it."""
    service = runtime.service
    with service.sessions() as session:
        anchored = session.scalar(
            select(func.count()).select_from(RecordRow).where(RecordRow.id.in_(ids), RecordRow.status == "anchored")
        )
        open_ = session.scalar(select(func.count()).select_from(AttemptRow).where(AttemptRow.state == "sending"))
    if anchored != len(ids) or open_:
        return False
    for tx_hash, number, block_hash in set(anchors(runtime).values()):
        receipt = service.chain.receipt_of(bytes.fromhex(tx_hash[2:]))
        if receipt is None or (receipt.block_number, "0x" + receipt.block_hash.hex()) != (number, block_hash):
            return False
    return True


def test_a_node_killed_mid_ingest_loses_blocks_and_every_record_is_anchored_exactly_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = el_cell_png(seed=1, size=96, cracks=0)
    monkeypatch.setattr(station, "el_cell_png", lambda **_: image)  # the records differ; one image serves all
    state = tmp_path / "chain" / "state.json"
    state.parent.mkdir()
    port = free_port()
    with ExitStack() as stack:
        node = stack.enter_context(ExitStack())
        proc, url = node.enter_context(anvil_process(*CHAIN_ARGS, state=state, port=port))
        runtime = open_runtime(Settings(data_dir=tmp_path / "data", chain_url=url))
        stack.callback(runtime.engine.dispose)
        service = runtime.service
        demo = Demo(service, runtime.keys)
        demo.found_consortium()
        demo.calibrate_instruments()
        records = [demo.record("el_image", i) for i in range(N)]  # tier B

        worker = AnchorWorker(service, interval_s=0.1, max_backoff_s=0.5)
        acknowledged: list[str] = []

        def ingest() -> None:
            for i in range(0, N, CHUNK):
                acknowledged.extend(s.record_id for s in service.submit_many(records[i : i + CHUNK], actor=LAB))
                worker.wake()
                time.sleep(0.05)

        feeder = threading.Thread(target=ingest, daemon=True)
        worker.start()
        stack.callback(worker.stop)
        feeder.start()

        # Mid-ingest, 0.6 s after anvil wrote its state: what it mined since is lost with it.
        until(lambda: len(anchors(runtime)) >= N // 3, "nothing was anchored")
        written = state.stat().st_mtime_ns
        until(lambda: state.stat().st_mtime_ns != written, "anvil did not write its state", timeout=5)
        time.sleep(0.6)
        proc.kill()
        proc.wait()
        head_before = max(n for _, n, _ in anchors(runtime).values())
        before_kill = anchors(runtime)  # the chain is down: nothing changes these until it is back
        time.sleep(1)  # submissions go on; the worker fails and retries
        node.close()
        node = stack.enter_context(ExitStack())
        node.enter_context(anvil_process(*CHAIN_ARGS, state=state, port=port))
        assert service.chain.block_number() < head_before + len(before_kill)  # the node answers again

        feeder.join(timeout=120)
        assert not feeder.is_alive() and len(acknowledged) == N
        until(lambda: settled(runtime, acknowledged), "the records were not all anchored again", timeout=90)
        worker.stop()
        assert worker.failures > 0  # the node's death was felt

        # Blocks were lost, and the records anchored in them were anchored again, in other blocks.
        after = anchors(runtime)
        lost = [r for r, (_, number, block_hash) in before_kill.items() if after[r][1:] != (number, block_hash)]
        assert lost, "the kill lost no anchored block: the test proved nothing"
        assert any(service.chain.block_hash_at(n) != bytes.fromhex(str(h)[2:]) for _, n, h in before_kill.values())

        # Exactly once: one anchor row each in the index, one anchor each across the whole chain.
        assert sorted(r for r in after if r in set(acknowledged)) == sorted(acknowledged)
        counts = anchors_on_chain(service.chain)
        assert Counter(counts[r] for r in acknowledged) == Counter({1: N})
        with service.sessions() as session:
            attempts = session.execute(select(AttemptRow.state, AttemptRow.record_ids)).all()
        done = [r for state_, ids in attempts if state_ == "done" for r in ids if r in set(acknowledged)]
        assert sorted(done) == sorted(acknowledged)  # no record in two mined transactions
        # Verified by record id, every one (statuses read in batches).
        targets = [RecordTarget(service.evidence(r)) for r in acknowledged]
        results = verify_many(targets, record_context(ChainReader(service.chain), service.store))
        assert sum(is_valid(f) for f in results) == N, next(f for f in results if not is_valid(f))
