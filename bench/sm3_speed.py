"""SM3 of a 256 MB file: qledger's streamed hashing against `openssl dgst -sm3` on the same file, same run.

Prints the ratio (qledger throughput / openssl throughput; the target is >= 0.9) and rewrites its section of
bench/RESULTS.md. Best of three runs each, alternating, since these machines are noisy.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.results import write_section  # noqa: E402
from ledger_service.digests import digest_file, sm3_file  # noqa: E402

SIZE = int(os.environ.get("SM3_BENCH_MB", "256")) << 20


def timed(action) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> int:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "payload.bin"
        with open(path, "wb") as f:
            for _ in range(SIZE >> 20):
                f.write(os.urandom(1 << 20))
        expected = subprocess.run(
            ["openssl", "dgst", "-sm3", "-r", str(path)], capture_output=True, text=True, check=True
        )
        assert expected.stdout.split()[0] == sm3_file(path).hex(), "SM3 disagrees with openssl"
        openssl, ours, both = [], [], []
        for _ in range(3):
            openssl.append(
                timed(lambda: subprocess.run(["openssl", "dgst", "-sm3", str(path)], capture_output=True, check=True))
            )
            ours.append(timed(lambda: sm3_file(path)))
            both.append(timed(lambda: digest_file(path)))
    mb = SIZE / (1 << 20)
    o, q, b = mb / min(openssl), mb / min(ours), mb / min(both)
    lines = [
        f"File: {mb:.0f} MB of random bytes; best of 3 runs each, alternating.",
        "",
        "| hashing | MB/s | ratio to openssl |",
        "|---|---:|---:|",
        f"| `openssl dgst -sm3` | {o:.0f} | 1.00 |",
        f"| qledger `sm3_file` (streamed, 1 MiB reads) | {q:.0f} | {q / o:.2f} |",
        f"| qledger `digest_file` (SM3 + SHA-256 in one pass) | {b:.0f} | {b / o:.2f} |",
        "",
        f"Target: SM3 at least 0.9x openssl: {'met' if q / o >= 0.9 else 'NOT met'}.",
    ]
    print("\n".join(lines))
    write_section("sm3", "SM3 hashing speed (bench/sm3_speed.py)", "\n".join(lines))
    return 0 if q / o >= 0.9 else 1


if __name__ == "__main__":
    raise SystemExit(main())
