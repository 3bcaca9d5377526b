"""Stopping an engine by pid: the call returns only once the process is gone, so a status read right after it
does not see the engine run (the 2,000-record fault test read `kubo_running` True right after a SIGKILL)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from ledger_service.network.processes import alive, kill_and_wait

# A child that takes its time to exit: it catches SIGTERM and goes on; many threads slow a SIGKILLed exit.
_STUBBORN = (
    "import signal, threading, time\n"
    "signal.signal(signal.SIGTERM, lambda *a: None)\n"
    "[threading.Thread(target=time.sleep, args=(60,), daemon=True).start() for _ in range(64)]\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


def _stubborn_child() -> subprocess.Popen[str]:
    child = subprocess.Popen([sys.executable, "-c", _STUBBORN], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    return child


def test_a_killed_engine_is_gone_and_reaped_when_the_call_returns() -> None:
    child = _stubborn_child()
    assert alive(child.pid)
    kill_and_wait(child.pid)
    assert not alive(child.pid)
    assert not Path(f"/proc/{child.pid}").exists(), "the zombie was left for the next status read to see"


def test_an_engine_that_ignores_sigterm_is_killed_after_the_timeout() -> None:
    child = _stubborn_child()
    started = time.monotonic()
    kill_and_wait(child.pid, timeout_s=0.5, sig=signal.SIGTERM)
    assert not alive(child.pid)
    assert 0.5 <= time.monotonic() - started < 10


def test_a_pid_that_is_gone_already_is_no_error() -> None:
    child = _stubborn_child()
    kill_and_wait(child.pid)
    kill_and_wait(child.pid)
    assert not alive(child.pid)
