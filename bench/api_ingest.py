"""Sustained ingest over the HTTP API: 8 concurrent clients against `qledger serve` (its own process) backed by
anvil and a Kubo daemon. Per tier: records/s to 202, p50/p99 latency to 202, and the time until the outbox
has drained (every record anchored). Targets (issues #4, #14): tier C >= 500 rec/s, tier B >= 200 rec/s, p99 <
100 ms, on a machine whose bare HTTP stack answered 3,050 requests/s; on a shared or slower machine they are
judged as ratios to the bare stack measured just before each tier (C >= 500/3050, B >= 200/3050) and p99.

    .venv/bin/python bench/api_ingest.py [N]     (default 4,000 records per tier)

`serve` runs BENCH_WORKERS API processes (default: its own, one per core; ledger_service/serving.py).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.loadgen import get, json_post, multipart_post, post_all  # noqa: E402
from bench.results import write_section  # noqa: E402
from ledger_service.config import Settings  # noqa: E402
from ledger_service.demo import LAB, Demo  # noqa: E402
from ledger_service.runtime import load_deployment, open_runtime  # noqa: E402
from ledger_service.serving import default_workers  # noqa: E402
from tests.utils.anvil import anvil_node, free_port  # noqa: E402
from tests.utils.ipfs import ipfs_node  # noqa: E402

CLIENTS = 8
TARGET = {"C": 500.0, "B": 200.0}
STACK_THEN = 3050.0  # GET /healthz requests/s when the targets were set (bench/RESULTS.md)
RATIO_TARGET = {tier: rate / STACK_THEN for tier, rate in TARGET.items()}
KIND = {"C": "xrf_analysis", "B": "el_image"}
QLEDGER = str(Path(sys.executable).parent / "qledger")
PATH = "/v1/records"


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
    workers = int(os.environ.get("BENCH_WORKERS") or default_workers())
    rows: list[str] = []
    ok = True
    with (
        anvil_node("--hardfork", "cancun", "--gas-limit", "100000000") as chain,
        ipfs_node() as ipfs,
        tempfile.TemporaryDirectory() as d,
    ):
        env = {
            **os.environ,
            "QLEDGER_DATA_DIR": d,
            "QLEDGER_CHAIN_URL": chain,
            "QLEDGER_IPFS_URL": os.environ.get("BENCH_IPFS", ipfs),
        }
        subprocess.run([QLEDGER, "init"], env=env, check=True, capture_output=True)
        key = subprocess.run(
            [QLEDGER, "keys", "issue", LAB], env=env, check=True, capture_output=True, text=True
        ).stdout.strip()
        port = free_port()
        server = subprocess.Popen(
            [QLEDGER, "serve", "--port", str(port), "--workers", str(workers)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        host = f"127.0.0.1:{port}"
        try:
            while True:
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            runtime = open_runtime(
                Settings(
                    data_dir=Path(d) / "client", chain_url=chain, ipfs_url=ipfs, database_url=f"sqlite:///{d}/index.db"
                )
            )
            runtime.settings.data_dir = Path(d)
            load_deployment(runtime)
            demo = Demo(runtime.service, runtime.keys, seed=7)
            demo.load_calibrations(runtime.certificates)
            for tier in ("C", "B"):
                # Baseline, same run, just before the tier (the load of a shared machine moves): the bare HTTP
                # stack (GET /healthz) with the same clients.
                ceiling = post_all("127.0.0.1", port, [get("/healthz", host)] * n, CLIENTS, expect=200)
                assert ceiling.statuses == {200: n}, ceiling.statuses
                ceiling_rate = n / ceiling.elapsed_s
                print(f"baseline: GET /healthz {ceiling_rate:,.0f} requests/s", flush=True)
                requests = []
                for i in range(n):
                    raw, files = demo.record(KIND[tier], 10**6 * (len(rows) + 1) + i)
                    raw["attachments"] = []
                    record = json.dumps(raw).encode()
                    requests.append(
                        multipart_post(PATH, host, key, record, files[0].name, files[0].data or b"", "image/png")
                        if files
                        else json_post(PATH, host, key, record)
                    )
                run = post_all("127.0.0.1", port, requests, CLIENTS)
                assert run.statuses == {202: n}, (run.statuses, run.bodies[:3])
                elapsed, latencies = run.elapsed_s, run.latencies_s
                drain_start = time.perf_counter()
                while True:
                    gauges = [
                        float(line.split()[1])
                        for line in httpx.get(f"{url}/metrics").text.splitlines()
                        if line.startswith(("qledger_outbox_depth ", "qledger_pin_outbox_depth "))
                    ]
                    if gauges == [0, 0]:
                        break
                    time.sleep(0.2)
                drain = time.perf_counter() - drain_start
                rate = n / elapsed
                q = statistics.quantiles(latencies, n=100)
                p50, p99 = statistics.median(latencies) * 1000, q[98] * 1000
                ratio = rate / ceiling_rate
                met = (rate >= TARGET[tier] or ratio >= RATIO_TARGET[tier]) and p99 < 100
                ok = ok and met
                rows.append(
                    f"| {tier} ({KIND[tier]}) | {n} | {ceiling_rate:,.0f} | {rate:,.0f} | {ratio:.3f} | "
                    f"{RATIO_TARGET[tier]:.3f} | {p50:.1f} | {p99:.1f} | {drain:.1f} | {os.getloadavg()[0]:.1f} | "
                    f"{'met' if met else 'NOT met'} |"
                )
                print(rows[-1], flush=True)
            load = os.getloadavg()
        finally:
            server.terminate()
            server.wait(timeout=30)
    body = "\n".join(
        [
            f"{CLIENTS} keep-alive clients (bench/loadgen.py, one asyncio process) posting to `qledger serve --workers",
            f"{workers}` ({workers} API processes on one socket: uvicorn with uvloop/httptools, each with its group",
            "commit into one SQLite index; the pin and anchor worker in a process of its own) backed by anvil and a",
            f"Kubo daemon, all on the same {os.cpu_count()} cores; tier C records as JSON, tier B records as multipart",
            "with a PNG. A 202 means the record and its content are durable (index + local spool).",
            "Drain: time after the last 202 until both outboxes are empty (every record pinned and anchored).",
            "Baseline in the same run, just before each tier: the bare HTTP stack, `GET /healthz` with the same",
            "clients; `x stack` is records/s over that (the share of the HTTP ceiling left after the real work),",
            f"against the target's share ({TARGET['C']:,.0f} and {TARGET['B']:,.0f} over {STACK_THEN:,.0f}), and p99 <",
            "100 ms. `load`: the 1-minute load average after the tier.",
            f"Load average at the end (1, 5, 15 min): {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}.",
            "",
            "| tier | records | stack req/s | rec/s to 202 | x stack | target x | p50 ms | p99 ms | drain s | load | |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
            *rows,
        ]
    )
    print(body)
    write_section("api", "Ingest over the HTTP API (bench/api_ingest.py)", body)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
