"""Engine processes by pid: whether one runs, and waiting until one is gone (docs/architecture.md 10, 11)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def alive(pid: int) -> bool:
    """Whether `pid` runs. A zombie is dead: it is reaped here when it is this process's child (an engine
    started by this process), so that a later check does not see it again."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if stat.rsplit(")", 1)[1].split()[0] != "Z":
        return True
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    return False


def kill_and_wait(pid: int, timeout_s: float = 20, sig: signal.Signals = signal.SIGKILL) -> None:
    """Send `sig`, then wait until the process is gone, with SIGKILL after `timeout_s`. SIGKILL is delivered
    at once but a process with many threads takes a moment to exit: a caller that checks right after the
    signal would still see it run."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + timeout_s
        time.sleep(0.05)
