"""A chain that goes back under the index (a node restarted from older state, a reorg), on a real anvil node
rolled back with its own evm_snapshot/evm_revert: anchors whose block changed are moved or anchored again,
exactly once, and no transaction lost with its nonce wedges the outbox (docs/architecture.md section 4)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import select

from ledger_service.chain.jsonrpc import JsonRpcChainClient
from ledger_service.chain.web3_client import ChainReader
from ledger_service.config import Settings
from ledger_service.demo import LAB, Demo
from ledger_service.digests import digest_bytes
from ledger_service.ids import instrument_key
from ledger_service.index import crud
from ledger_service.index.models import AnchorRow, AttemptRow
from ledger_service.localnode import anvil_process
from ledger_service.runtime import Runtime, open_runtime
from ledger_service.verification import Status, is_valid
from tests.utils.anvil import anvil_node, free_port
from tests.utils.chain import anchors_on_chain, roots_on_chain, rpc


class Crash(Exception):
    """The service process dying at a chosen point of the anchoring protocol."""


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Runtime, Demo, str]]:
    with anvil_node("--hardfork", "cancun") as url:
        runtime = open_runtime(Settings(data_dir=tmp_path, chain_url=url))
        demo = Demo(runtime.service, runtime.keys)
        demo.found_consortium()
        demo.calibrate_instruments()
        yield runtime, demo, url
        runtime.engine.dispose()


def anchor_of(runtime: Runtime, record_id: str) -> tuple[str, int, str | None]:
    with runtime.service.sessions() as session:
        a = session.get(AnchorRow, record_id)
        assert a is not None, f"{record_id} has no anchor"
        return a.tx_hash, a.block_number, a.block_hash


def lab_nonce(runtime: Runtime) -> int:
    s = runtime.service
    return int(s.chain.w3.eth.get_transaction_count(s.accounts[LAB]))


def on_chain(runtime: Runtime, tx_hash: str) -> tuple[int, str]:
    receipt = runtime.service.chain.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    assert receipt["status"] == 1
    return int(receipt["blockNumber"]), "0x" + bytes(receipt["blockHash"]).hex()


def check_anchored_once(runtime: Runtime, ids: list[str]) -> None:
    """Each record: one anchor in the index, at the block the chain holds its transaction in, once on chain
    (tier A and B; tier C: its root once), and verified VALID by its record id."""
    service = runtime.service
    counts, roots = anchors_on_chain(service.chain), roots_on_chain(service.chain)
    for record_id in ids:
        tx_hash, number, block_hash = anchor_of(runtime, record_id)
        assert on_chain(runtime, tx_hash) == (number, block_hash)
        state = service.record_state(record_id)
        assert state.status == "anchored"
        if state.tier == "C":
            with service.sessions() as session:
                root = session.get(AnchorRow, record_id).root  # type: ignore[union-attr]
            assert counts[record_id] == 0 and roots[str(root)] == 1
        else:
            assert counts[record_id] == 1, (record_id, counts[record_id])
        assert is_valid(service.verify(record_id)), service.verify(record_id)


def test_a_transaction_mined_again_in_another_block_moves_its_anchors(world: tuple[Runtime, Demo, str]) -> None:
    runtime, demo, _ = world
    service, chain = runtime.service, runtime.service.chain
    ids = [s.record_id for s in service.submit_many([demo.record("el_image", i) for i in range(4)])]
    snapshot = rpc(chain, "evm_snapshot")
    assert service.anchor_pending() == 4
    tx_hash, number, block_hash = anchor_of(runtime, ids[0])
    assert block_hash == on_chain(runtime, tx_hash)[1]  # the index keeps the block's hash
    with service.sessions() as session:
        raw = session.get(AttemptRow, tx_hash).raw_tx  # type: ignore[union-attr]

    rpc(chain, "evm_revert", snapshot)  # a reorg: another block at that height, the transaction one block later
    rpc(chain, "evm_mine")
    # anvil mines on arrival but may answer before the receipt is stored (seen on a loaded CI machine)
    chain.w3.eth.wait_for_transaction_receipt(chain.w3.eth.send_raw_transaction(raw), timeout=30)
    moved = on_chain(runtime, tx_hash)
    assert moved[0] == number + 1

    # Verification by record id compares the block the index names with the chain's.
    fragment = next(f for f in service.verify(ids[0]) if f.name == "ChainAnchor")
    assert fragment.status is Status.INVALID and fragment.reason is not None
    assert fragment.reason["code"] == "BLOCK_MISMATCH"

    nonce = lab_nonce(runtime)
    assert service.anchor_pending() == 0  # the anchors move to the new block; nothing is anchored anew
    assert lab_nonce(runtime) == nonce
    assert {anchor_of(runtime, r) for r in ids} == {(tx_hash, *moved)}
    check_anchored_once(runtime, ids)
    with service.sessions() as session:
        assert "anchor_moved" in {e.action for e in crud.audit_trail(session=session, record_id=ids[0])}


def test_verification_by_record_id_checks_the_block_hash_at_the_same_height(world: tuple[Runtime, Demo, str]) -> None:
    """Issue 13, property 6: a reorg that mines the anchoring transaction again at the same height, in another
    block: the block number the index holds still matches, only the hash tells, and verification by record id
    says BLOCK_MISMATCH until the next anchoring pass moves the anchor."""
    runtime, demo, _ = world
    service, chain = runtime.service, runtime.service.chain
    [record_id] = [s.record_id for s in service.submit_many([demo.record("tensile_test", 30)])]
    snapshot = rpc(chain, "evm_snapshot")
    assert service.anchor_pending() == 1
    tx_hash, number, block_hash = anchor_of(runtime, record_id)
    timestamp = int(chain.w3.eth.get_block(number)["timestamp"])
    with service.sessions() as session:
        raw = session.get(AttemptRow, tx_hash).raw_tx  # type: ignore[union-attr]

    rpc(chain, "evm_revert", snapshot)  # the same transaction in another block of the same height
    rpc(chain, "evm_setNextBlockTimestamp", timestamp + 3)
    chain.w3.eth.wait_for_transaction_receipt(chain.w3.eth.send_raw_transaction(raw), timeout=30)
    moved = on_chain(runtime, tx_hash)
    assert moved[0] == number and moved[1] != block_hash

    fragment = next(f for f in service.verify(record_id) if f.name == "ChainAnchor")
    assert fragment.status is Status.INVALID and fragment.reason is not None
    assert fragment.reason["code"] == "BLOCK_MISMATCH"
    assert service.anchor_pending() == 0  # the anchor moves to the new block, nothing is anchored anew
    assert anchor_of(runtime, record_id) == (tx_hash, *moved)
    check_anchored_once(runtime, [record_id])


def test_an_anchor_whose_block_changed_is_requeued_and_anchored_once(world: tuple[Runtime, Demo, str]) -> None:
    runtime, demo, _ = world
    service, chain = runtime.service, runtime.service.chain
    records = [demo.record("el_image", i) for i in range(4)] + [demo.record("tensile_test", 10)]
    ids = [s.record_id for s in service.submit_many(records)]
    snapshot = rpc(chain, "evm_snapshot")
    assert service.anchor_pending() == 5
    before = {r: anchor_of(runtime, r) for r in ids}

    rpc(chain, "evm_revert", snapshot)  # the blocks are lost; others are mined at their heights
    rpc(chain, "evm_mine")
    rpc(chain, "evm_mine")
    assert all(chain.receipt_of(bytes.fromhex(tx[2:])) is None for tx, _, _ in before.values())

    assert service.anchor_pending() == 5  # back in the queue, anchored again
    for record_id, (tx_hash, number, block_hash) in before.items():
        again = anchor_of(runtime, record_id)
        assert again[0] == tx_hash  # the same signed transaction sent again: its nonce was still the next
        assert again[1:] != (number, block_hash)
    check_anchored_once(runtime, ids)
    assert service.anchor_pending() == 0
    with service.sessions() as session:
        assert "anchor_lost" in {e.action for e in crud.audit_trail(session=session, record_id=ids[0])}
        assert set(session.scalars(select(AttemptRow.state))) == {"done"}


def test_a_nonce_the_chain_reused_after_a_rollback_never_wedges_the_outbox(
    world: tuple[Runtime, Demo, str],
) -> None:
    """The node goes back two anchoring transactions and another transaction of the lab takes the first one's
    nonce; a third, prepared and written to the outbox, was never sent (the service crashed), its nonce now
    beyond the chain's next. Today's outbox sent it into the node's pool behind the gap and waited for good.
    Now: the first is abandoned and its batch re-prepared with a fresh nonce, the other two are sent again."""
    runtime, demo, url = world
    service, chain = runtime.service, runtime.service.chain
    chain.receipt_timeout_s = 20  # a transaction stuck behind a gap fails the test in 20 s, not 120
    snapshot = rpc(chain, "evm_snapshot")
    start = lab_nonce(runtime)
    first = [s.record_id for s in service.submit_many([demo.record("el_image", i) for i in range(3)])]
    assert service.anchor_pending() == 3
    second = [s.record_id for s in service.submit_many([demo.record("xrf_analysis", 10 + i) for i in range(3)])]
    assert service.anchor_pending() == 3
    third = [s.record_id for s in service.submit_many([demo.record("el_image", 20 + i) for i in range(3)])]

    def crash(point: str) -> None:
        if point == "after_persist":
            raise Crash(point)

    service.fault_injector = crash
    with pytest.raises(Crash):
        service.anchor_pending()
    service.fault_injector = None
    with service.sessions() as session:
        (pending,) = crud.open_attempts(session=session)
        assert pending.nonce == start + 2
    first_tx = anchor_of(runtime, first[0])[0]

    rpc(chain, "evm_revert", snapshot)
    other = JsonRpcChainClient(url)  # another tool of the lab's takes the first batch's nonce
    other.add_account(runtime.keys.get_or_create(LAB))
    assert chain.deployment is not None
    other.attach(chain.deployment)
    other.register_instrument(service.accounts[LAB], instrument_key("XRF-SPARE"), digest_bytes(b"spare").sm3)
    assert lab_nonce(runtime) == start + 1

    # The same service (its nonce cache still ahead of the chain) recovers in one pass.
    assert service.anchor_pending() == 9
    ids = first + second + third
    check_anchored_once(runtime, ids)
    assert anchor_of(runtime, first[0])[0] != first_tx  # re-prepared: a new transaction, a fresh nonce
    assert lab_nonce(runtime) == start + 4  # the spare instrument, the second and third sent again, the first anew
    with service.sessions() as session:
        states = {a.tx_hash: a.state for a in session.scalars(select(AttemptRow))}
    assert states[first_tx] == "abandoned" and "sending" not in states.values()
    assert service.anchor_pending() == 0


def test_a_batch_whose_block_the_node_lost_but_whose_state_it_kept_is_anchored_again_under_new_roots(
    tmp_path: Path,
) -> None:
    """anvil writes its state file without stopping the chain: a kill can leave a file whose accounts and
    storage already hold the last block's effects while its block list ends before it. Restarted from it,
    the chain holds the batch's root (and the lab's nonce moved on) but no transaction or event anchors it.
    That batch is anchored again in two batches, whose roots are new: one anchoring event per record."""
    state = tmp_path / "chain" / "state.json"
    state.parent.mkdir()
    port = free_port()
    with ExitStack() as stack:
        node = stack.enter_context(ExitStack())
        _, url = node.enter_context(anvil_process("--hardfork", "cancun", state=state, port=port))
        runtime = open_runtime(Settings(data_dir=tmp_path / "data", chain_url=url))
        stack.callback(runtime.engine.dispose)
        service, chain = runtime.service, runtime.service.chain
        demo = Demo(service, runtime.keys)
        demo.found_consortium()
        demo.calibrate_instruments()
        ids = [s.record_id for s in service.submit_many([demo.record("el_image", i) for i in range(6)])]
        assert service.anchor_pending() == 6
        tx_hash, number, _ = anchor_of(runtime, ids[0])
        with service.sessions() as session:
            root = bytes.fromhex(str(session.get(AnchorRow, ids[0]).root))  # type: ignore[union-attr]
        assert number == chain.block_number()
        node.close()  # anvil writes its state on the way out; then the file loses the batch's block, not its state
        doc = json.loads(state.read_text())
        doc["blocks"] = [b for b in doc["blocks"] if int(b["header"]["number"], 16) < number]
        doc["transactions"] = [t for t in doc["transactions"] if int(t["block_number"]) < number]
        doc["best_block_number"] = number - 1
        doc["block"]["number"] = hex(number - 1)
        state.write_text(json.dumps(doc))
        node = stack.enter_context(ExitStack())
        node.enter_context(anvil_process("--hardfork", "cancun", state=state, port=port))
        assert chain.block_number() == number - 1 and chain.receipt_of(bytes.fromhex(tx_hash[2:])) is None
        assert int(ChainReader(chain).root_of(root, service.accounts[LAB])["anchored_at"]) > 0  # the state kept it

        assert service.anchor_pending() == 6
        assert service.dead_letters() == []
        check_anchored_once(runtime, ids)
        with service.sessions() as session:
            roots = {a.root for a in session.scalars(select(AnchorRow).where(AnchorRow.record_id.in_(ids)))}
        assert len(roots) == 2 and root.hex() not in roots
        assert service.anchor_pending() == 0
