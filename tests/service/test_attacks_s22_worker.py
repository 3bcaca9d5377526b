"""Attacks on the worker process of `qledger serve` (docs/architecture.md section 4): its wake-up FIFO
`worker.wake` and its state file `worker.state.json` in the data directory, and two anchoring passes over one
index (serve's worker and a `qledger ingest` on the same data directory, or two workers). Each test asserts the
safe behaviour: a planted file or link makes the service write nowhere else and /metrics neither lie beyond
the state nor fail; a record is anchored once."""

from __future__ import annotations

import functools
import json
import os
import stat
import threading
from pathlib import Path

import pytest

from ledger_service.api.worker import STATE_FILE, WAKE_FILE, RemoteWorker, WorkerState, make_wake_fifo
from ledger_service.config import Settings
from ledger_service.demo import Demo
from ledger_service.index.models import RecordRow
from ledger_service.runtime import ANCHOR_GATE_FILE, Runtime, file_lock, open_runtime
from ledger_service.service import LedgerService
from ledger_service.serving import WorkerProcess


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_a_planted_wake_path_is_replaced_by_the_services_own_0600_fifo(tmp_path: Path) -> None:
    """A FIFO left world-writable becomes 0600; a symbolic link (to a FIFO or a file elsewhere) or a regular
    file of that name is replaced by a FIFO of the service's own, and what a link named is left as it was."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    data = tmp_path / "data"
    data.mkdir()
    wake = data / WAKE_FILE
    os.mkfifo(wake, 0o600)
    os.chmod(wake, 0o666)
    assert _mode(make_wake_fifo(data)) == 0o600
    for target in (elsewhere / "fifo", elsewhere / "file"):
        if target.name == "fifo":
            os.mkfifo(target, 0o600)
            os.chmod(target, 0o666)
        else:
            target.write_bytes(b"precious")
            target.chmod(0o644)
        wake.unlink()
        wake.symlink_to(target)
        path = make_wake_fifo(data)
        assert stat.S_ISFIFO(path.lstat().st_mode) and _mode(path) == 0o600
        assert _mode(target) == (0o666 if target.name == "fifo" else 0o644)
    assert (elsewhere / "file").read_bytes() == b"precious"
    wake.unlink()
    wake.write_bytes(b"not a fifo")
    assert stat.S_ISFIFO(make_wake_fifo(data).lstat().st_mode)


def test_a_wake_up_writes_into_no_file_a_link_names(tmp_path: Path) -> None:
    """An API process's wake-up opens the FIFO without following a link planted in its place: the file the
    link names is not written to."""
    victim = tmp_path / "victim.log"
    victim.write_bytes(b"log\n")
    (tmp_path / WAKE_FILE).symlink_to(victim)
    remote = RemoteWorker(tmp_path)
    remote.wake()
    remote.wake()
    remote.close()
    assert victim.read_bytes() == b"log\n"


def test_the_state_file_is_written_through_no_planted_link(tmp_path: Path) -> None:
    """The worker writes its counts to a temporary name, then renames it: a link planted at that name (a
    stale one of a killed worker with this pid, or a local user's) does not make it write the file it names."""
    victim = tmp_path / "victim"
    victim.write_text("precious")
    state = WorkerState(tmp_path / STATE_FILE)
    (tmp_path / f".{STATE_FILE}.{os.getpid()}").symlink_to(victim)
    state.write(anchored=3, failures=1)
    assert victim.read_text() == "precious"
    assert state.read()["anchored"] == 3 and _mode(tmp_path / STATE_FILE) == 0o600


@pytest.mark.parametrize(
    "doc",
    ['{"anchored": NaN, "failures": 0}', '{"anchored": Infinity, "failures": -Infinity}', '{"anchored": 1e400}',
     '{"anchored": "7", "failures": [1]}', "[1, 2]", '"anchored"', "{not json", ""],
)  # fmt: skip
def test_metrics_never_fail_on_a_forged_state_file(tmp_path: Path, doc: str) -> None:
    """A state file that is not the worker's (not finite numbers, not an object, not JSON): /metrics' counts
    are 0, not an exception (an HTTP 500) from the API process reading it."""
    (tmp_path / STATE_FILE).write_text(doc)
    assert RemoteWorker(tmp_path).counts() == (0, 0)


def test_metrics_never_block_on_a_state_file_that_is_a_fifo(tmp_path: Path) -> None:
    """A FIFO in place of the state file (nobody writes it): reading the counts returns at once."""
    os.mkfifo(tmp_path / STATE_FILE, 0o600)
    answer: list[tuple[int, int]] = []
    reader = threading.Thread(target=lambda: answer.append(RemoteWorker(tmp_path).counts()), daemon=True)
    reader.start()
    reader.join(timeout=5)
    assert answer == [(0, 0)]
    if reader.is_alive():  # free the blocked reader so the test process ends
        os.close(os.open(tmp_path / STATE_FILE, os.O_WRONLY | os.O_NONBLOCK))


def test_a_stale_state_file_of_an_earlier_serve_is_not_read_as_this_ones(tmp_path: Path) -> None:
    """A SIGKILLed serve leaves its worker's counts behind: the next serve starts from none (the file is
    removed before its worker starts), and its FIFO is there, 0600."""
    (tmp_path / STATE_FILE).write_text(json.dumps({"pid": 1, "anchored": 99, "failures": 5, "at": 0}))
    WorkerProcess(tmp_path, dict(os.environ), graceful_s=1)
    assert RemoteWorker(tmp_path).counts() == (0, 0)
    assert stat.S_ISFIFO((tmp_path / WAKE_FILE).lstat().st_mode) and _mode(tmp_path / WAKE_FILE) == 0o600


# ------------------------------------------------------------------ two anchoring passes over one index


def _other_process(runtime: Runtime) -> LedgerService:
    """Another process's service over the same index, store and chain (no memory of this one's work)."""
    s = runtime.service
    return LedgerService(chain=s.chain, store=s.store, sessions=s.sessions, accounts=s.accounts, tiers=s.tiers)


@pytest.mark.parametrize("kind", ["xrf_analysis", "el_image", "tensile_test"])
def test_a_pass_that_starts_while_another_reads_the_queue_anchors_nothing_twice(
    world: tuple[Runtime, Demo], tmp_path: Path, kind: str
) -> None:
    """serve's worker process and a `qledger ingest` (or a second worker) on one data directory, each with the
    gate its open_runtime gives it: the other pass starts between this one's read of the queue and its first
    transaction. It waits for this one, then finds nothing to anchor; every record ends anchored, none
    dead-lettered for having been anchored by the other (tier B and C: QualityLedgerRootExists)."""
    runtime, demo = world
    service = runtime.service
    ids = [s.record_id for s in service.submit_many([demo.record(kind, 300 + i) for i in range(3)])]
    other = _other_process(runtime)
    other.anchor_gate = functools.partial(file_lock, tmp_path / ANCHOR_GATE_FILE)  # as its open_runtime sets it
    prepare = service._prepare_or_dead_letter
    ran: list[int] = []
    started: list[threading.Thread] = []

    def racing(*args, **kwargs):  # type: ignore[no-untyped-def]
        if not started:
            started.append(threading.Thread(target=lambda: ran.append(other.anchor_pending()), daemon=True))
            started[0].start()
            started[0].join(timeout=2)  # long enough for a whole pass on the in-process chain, were it let in
        return prepare(*args, **kwargs)

    service._prepare_or_dead_letter = racing  # type: ignore[method-assign]
    assert service.anchor_pending() == len(ids)
    started[0].join(timeout=30)
    assert ran == [0]
    assert service.dead_letters() == []
    with service.sessions() as session:
        for record_id in ids:
            assert session.get(RecordRow, record_id).status == "anchored"  # type: ignore[union-attr]
    runtime.engine.dispose()


# ------------------------------------------------------------------ the nonce race (chain/web3_client.py)


def test_a_nonce_race_neither_duplicates_nor_loses_an_anchor(tmp_path: Path) -> None:
    """Two processes sending from one account, each with its own nonce cache (serve's worker and an API or CLI
    process): the one whose cached nonce the other took signs again with the next nonce. Every root is on
    chain once; sending one again is refused by the contract, not a second anchor."""
    from web3 import Web3

    from ledger_service import merkle
    from ledger_service.chain.auto import chain_from_url
    from ledger_service.chain.web3_client import ChainReader
    from ledger_service.demo import LAB
    from ledger_service.digests import sm3
    from ledger_service.errors import TransactionReverted
    from tests.utils.anvil import DEV_KEY, anvil_node

    with anvil_node("--hardfork", "cancun") as url:
        runtime = open_runtime(Settings(data_dir=tmp_path, chain_url=url))
        Demo(runtime.service, runtime.keys).found_consortium()
        chain, account = runtime.service.chain, runtime.service.accounts[LAB]

        def sent() -> int:
            return int(chain.w3.eth.get_transaction_count(Web3.to_checksum_address(account)))

        first, second, third = ([sm3(tag)] for tag in (b"first", b"second", b"third"))
        chain.anchor_root(account, first, bytes(32))  # this process caches the account's next nonce
        stale = sent()
        other = chain_from_url(url, faucet_key=DEV_KEY)
        assert chain.deployment is not None
        other.attach(chain.deployment)
        other.anchor_root(other.add_account(runtime.keys.get_or_create(LAB)), second, bytes(32))  # takes it
        before = sent()
        assert before == stale + 1 and stale in chain._nonces.values()  # this cache still holds the taken one
        chain.anchor_root(account, third, bytes(32))  # refused with the stale nonce, then signed again
        assert sent() == before + 1
        reader = ChainReader(chain)
        for ids in (first, second, third):
            assert int(reader.root_of(merkle.root(ids), account)["anchored_at"]) > 0
        with pytest.raises(TransactionReverted):
            chain.anchor_root(account, third, bytes(32))
        assert sent() == before + 1
        runtime.engine.dispose()


def test_a_local_user_without_the_services_uid_cannot_reach_the_worker_files(tmp_path: Path) -> None:
    """A data directory left open to everyone is made the owner's alone when the service opens it, before any
    FIFO, state or lock file exists in it; the anchoring lock is 0600 (a wake-up byte, a forged state or a
    held lock would need the service's uid)."""
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o777)
    runtime = open_runtime(Settings(data_dir=data))
    try:
        assert _mode(data) == 0o700
        runtime.service.anchor_pending()
        assert _mode(data / ANCHOR_GATE_FILE) == 0o600
        assert _mode(make_wake_fifo(data)) == 0o600
    finally:
        runtime.engine.dispose()
