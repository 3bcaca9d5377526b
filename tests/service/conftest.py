"""Fixtures of the service tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger_service.config import Settings
from ledger_service.demo import Demo
from ledger_service.runtime import Runtime, open_runtime


@pytest.fixture
def world(tmp_path: Path) -> tuple[Runtime, Demo]:
    """A founded consortium with calibrated instruments, its index in `tmp_path`."""
    runtime = open_runtime(Settings(data_dir=tmp_path))
    demo = Demo(runtime.service, runtime.keys)
    demo.found_consortium()
    demo.calibrate_instruments()
    return runtime, demo
