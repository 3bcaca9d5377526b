"""AI inspection of real EL cell images (elpv-dataset, 300x300) end to end: decode, preprocess, infer, record
(ai_inspection records with image SM3 and CID) and anchor in tier B batches, on anvil. Targets (issue #7): at
least 15 images/s, and the pipeline at most 1.10x the time of bare inference (decode, preprocess, infer) of the
same images in the same run, with the same session settings. Rewrites its RESULTS.md section.

    .venv/bin/python bench/inspection.py [N]
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import elpv_dataset
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.results import write_section  # noqa: E402
from inference_bridge import registry  # noqa: E402
from inference_bridge.pipeline import Inspector  # noqa: E402
from ledger_service.config import Settings  # noqa: E402
from ledger_service.demo import LAB, Demo  # noqa: E402
from ledger_service.runtime import open_runtime  # noqa: E402
from tests.utils.anvil import anvil_node  # noqa: E402

TARGET_RATE, TARGET_OVERHEAD = 15.0, 1.10
IMAGES = Path(elpv_dataset.__file__).parent / "data" / "images"


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1200
    paths = sorted(IMAGES.glob("*.png"))[:n]
    with anvil_node("--hardfork", "cancun", "--gas-limit", "100000000") as url, tempfile.TemporaryDirectory() as d:
        runtime = open_runtime(Settings(data_dir=Path(d), chain_url=url))
        service = runtime.service
        demo = Demo(service, runtime.keys)
        demo.found_consortium()
        demo.calibrate_instruments()
        card = json.loads(registry.DEMO_CARD.read_text())
        card_id = registry.register(service, card, member=LAB)
        _, card, model = registry.load(service, card_id, threads=1)  # one core infers; the other records

        def bare() -> float:
            start = time.perf_counter()
            for i in range(0, len(paths), 32):
                chunk = paths[i : i + 32]
                model.predict(
                    [cv2.imdecode(np.frombuffer(p.read_bytes(), np.uint8), cv2.IMREAD_UNCHANGED) for p in chunk]
                )
            return time.perf_counter() - start

        bare()  # warm-up: page cache and session
        bare_s = bare()
        start = time.perf_counter()
        decisions = Inspector(service, model, card_id, card, demo.inspection_envelope, actor=LAB).run(paths)
        anchored = service.anchor_pending()
        full_s = time.perf_counter() - start
    rate, overhead = n / full_s, full_s / bare_s
    counts = {k: sum(d.decision == k for d in decisions) for k in ("pass", "fail", "review")}
    ok = rate >= TARGET_RATE and overhead <= TARGET_OVERHEAD and anchored == n
    body = "\n".join(
        [
            f"{n} real EL cell images (elpv-dataset), model {registry.DEMO_MODEL} (ONNX Runtime, CPU, 1 intra-op",
            "thread), anvil; decisions recorded as ai_inspection records and anchored in tier B batches of 256.",
            "",
            "| run | s | images/s | |",
            "|---|---:|---:|---|",
            f"| bare inference (decode, preprocess, infer) | {bare_s:.2f} | {n / bare_s:,.0f} | baseline |",
            f"| pipeline (+ digests, records, review queue, anchoring) | {full_s:.2f} | {rate:,.0f} | "
            f"target >= {TARGET_RATE:.0f}/s: {'met' if rate >= TARGET_RATE else 'NOT met'} |",
            "",
            f"Audit overhead: {overhead:.2f}x bare inference (target <= {TARGET_OVERHEAD:.2f}x): "
            f"{'met' if overhead <= TARGET_OVERHEAD else 'NOT met'}. Decisions: {counts}; anchored {anchored}.",
        ]
    )
    print(body)
    write_section("inspection", "AI inspection (bench/inspection.py)", body)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
