"""Rewrite one section of bench/RESULTS.md, leaving the others as they are."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def write_section(key: str, title: str, body: str) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    section = f"<!-- {key}:begin -->\n## {title}\n\nMeasured {stamp}.\n\n{body}\n<!-- {key}:end -->"
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"<!-- {key}:begin.*?<!-- {key}:end -->", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else f"{text.rstrip()}\n\n{section}\n"
    RESULTS.write_text(text)
