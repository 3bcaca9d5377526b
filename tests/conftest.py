"""Fixtures shared across test packages, and how the test process ends."""

from __future__ import annotations

import gc
import os
import sys

import pytest

pytest_plugins = ["tests.utils.browser"]

_exit_status: list[int] = []


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # What the tests left behind is freed here, while pytest's fault handler still names the test process's
    # stack if a destructor crashes.
    gc.collect()
    _exit_status.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """End the process once pytest is done, without the interpreter's teardown. The suite loads a dozen native
    libraries into one process (py-evm, ONNX Runtime, OpenCV, Pango, qpdf, PDFium, Playwright's driver) whose
    teardown order Python does not set; a crash there (CI once exited 139 after every test had passed) says
    nothing about a test, and the results are written. The product's own processes exit normally: the tests that
    run the CLI as a process check its exit status."""
    if _exit_status:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status[0])
