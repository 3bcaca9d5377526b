"""The README as a newcomer reads it: its walkthrough runs as written, and every `qledger` command that its
code blocks show is one that the walkthrough or another test runs."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
WALKTHROUGH = next(b for b in BLOCKS if "qledger init" in b and "qledger ingest" in b)
# Run by their own tests (the demo: tests/service/test_demo_fresh.py; serve: tests/service/test_serve.py;
# network up/status/down: tests/network/test_network_faults.py).
ELSEWHERE = {"demo", "serve", "network"}


def _commands(text: str) -> set[str]:
    """`qledger SUB [SUBSUB]` for each command line of a block (comments stripped)."""
    found = set()
    for line in text.splitlines():
        pattern = r"(?:^|[;&|(]\s*|\bdo\s+|\.venv/bin/)qledger\s+([a-z][a-z-]*)(?:\s+([a-z]+))?"
        for match in re.finditer(pattern, line):
            sub, second = match.group(1), match.group(2)
            groups = ("keys", "recall", "agent", "model", "audit", "dead-letters", "operators")
            found.add(f"{sub} {second}" if sub in groups and second else sub)
    return found


def test_every_command_the_readme_shows_is_run() -> None:
    shown = set().union(*(_commands(b) for b in BLOCKS)) | _commands(re.sub(r"`", "\n", README))
    run = _commands(WALKTHROUGH)
    assert {"init", "ingest", "verify", "recall open", "keys issue"} <= run  # the parser finds commands at all
    assert shown - run - ELSEWHERE == set(), "README commands no test runs"


def test_the_walkthrough_runs_as_written(tmp_path: Path) -> None:
    os.symlink(ROOT / "inference_bridge", tmp_path / "inference_bridge")  # the model card's path, as from the root
    env = {k: v for k, v in os.environ.items() if not k.startswith("QLEDGER_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    script = "set -euo pipefail\n" + WALKTHROUGH
    done = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert json.loads((tmp_path / "verdict.json").read_text())["valid"] is True
    assert "exit 3: revoked" in done.stdout
    assert len(list((tmp_path / "unlocked").glob("*/record.json"))) == 1  # the confidential record, decrypted
    assert list((tmp_path / "reports").glob("esg-*.xhtml")) and list((tmp_path / "certs").glob("*.pdf"))
    assert re.search(r"24 image\(s\) with elpv-defect", done.stdout)
    ledger = tmp_path / "ledger"
    assert ledger.stat().st_mode & 0o777 == 0o700
    assert not (tmp_path / "qledger-data").exists()
    shutil.rmtree(ledger / "chain", ignore_errors=True)
