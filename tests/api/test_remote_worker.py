"""The API side of the worker process (api/worker.py): a wake-up never blocks or fails a request, whatever
state the worker process is in, and reaches it when it listens; its counts are read from a 0600 state file."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from ledger_service.api.worker import (
    STATE_FILE,
    WAKE_FILE,
    RemoteWorker,
    WakeListener,
    WorkerState,
    make_wake_fifo,
)


def _quick(action: object) -> None:
    started = time.monotonic()
    assert callable(action)
    action()
    assert time.monotonic() - started < 0.5, "a wake-up waited"


def test_a_wake_up_never_blocks_without_a_fifo_without_a_reader_or_with_a_full_pipe(tmp_path: Path) -> None:
    remote = RemoteWorker(tmp_path)
    _quick(remote.wake)  # no FIFO yet (serve makes it)
    make_wake_fifo(tmp_path)
    assert (tmp_path / WAKE_FILE).stat().st_mode & 0o777 == 0o600
    _quick(remote.wake)  # no reader: the worker process is starting or restarting
    reader = os.open(tmp_path / WAKE_FILE, os.O_RDONLY | os.O_NONBLOCK)
    try:
        for _ in range(70_000):  # more than a pipe holds (64 KiB): nobody reads
            remote.wake()
        _quick(remote.wake)
        assert len(os.read(reader, 1 << 20)) >= 4096
    finally:
        os.close(reader)
    _quick(remote.wake)  # the reader gone (EPIPE): dropped, opened again next time
    remote.close()


def test_the_listener_wakes_the_worker_and_survives_a_writer_coming_and_going(tmp_path: Path) -> None:
    woken = threading.Event()
    WakeListener(make_wake_fifo(tmp_path), woken.set)
    for _ in range(2):
        woken.clear()
        remote = RemoteWorker(tmp_path)
        remote.wake()
        assert woken.wait(5), "the worker was not woken"
        remote.close()  # an API process stopping: the listener does not read end-of-file and spin
    time.sleep(0.1)
    woken.clear()
    assert not woken.wait(0.3)


def test_a_file_in_the_fifos_place_is_replaced_and_counts_come_from_the_state_file(tmp_path: Path) -> None:
    (tmp_path / WAKE_FILE).write_text("not a fifo")
    make_wake_fifo(tmp_path)
    assert (tmp_path / WAKE_FILE).is_fifo()
    remote = RemoteWorker(tmp_path)
    assert remote.counts() == (0, 0)  # no worker process has written yet
    WorkerState(tmp_path / STATE_FILE).write(anchored=42, failures=3)
    assert remote.counts() == (42, 3)
    assert (tmp_path / STATE_FILE).stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left
