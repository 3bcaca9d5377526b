"""The inference process: the same predictions as in this process; the bytes recorded are the bytes the model
saw (a file changed in between is refused); a model ONNX Runtime cannot open, an image OpenCV cannot decode and
a process that died are each a clear error; the inspector anchors each tier B batch as it fills."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import elpv_dataset
import pytest

from inference_bridge import registry
from inference_bridge.pipeline import Inspector
from inference_bridge.runtime import OnnxModel
from inference_bridge.worker import InferenceWorker
from ledger_service.config import Settings
from ledger_service.demo import LAB, Demo
from ledger_service.errors import LedgerError
from ledger_service.runtime import Runtime, open_runtime

IMAGES = sorted((Path(elpv_dataset.__file__).parent / "data" / "images").glob("*.png"))


@pytest.fixture(scope="module")
def model() -> OnnxModel:
    card = json.loads(registry.DEMO_CARD.read_text())
    onnx = (registry.MODELS / f"{registry.DEMO_MODEL}.onnx").read_bytes()
    return OnnxModel(onnx, card["kind"], card["classes"], card["input_size"], threads=1)


def _answered(worker: InferenceWorker) -> None:
    deadline = time.monotonic() + 60
    while not worker._conn.poll(0.05):
        assert time.monotonic() < deadline, "the inference process never answered"


def test_the_child_predicts_what_this_process_predicts(model: OnnxModel) -> None:
    paths = IMAGES[:10]
    with InferenceWorker(model.spec) as worker:
        assert worker.runtime == model.runtime
        worker.submit(paths[:6])
        worker.submit(paths[6:])
        raws_a, digests, first = worker.result(paths[:6])
        raws_b, _, second = worker.result(paths[6:])
        assert [d.sha256 for d in digests] == [hashlib.sha256(r).digest() for r in raws_a]
    assert raws_a + raws_b == [p.read_bytes() for p in paths]
    here = model.predict([cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in paths])
    assert [p.scores for p in first + second] == [p.scores for p in here]


def test_a_file_changed_after_inference_is_refused(model: OnnxModel, tmp_path: Path) -> None:
    image = tmp_path / "cell0001.png"
    shutil.copyfile(IMAGES[0], image)
    with InferenceWorker(model.spec) as worker:
        worker.submit([image])
        _answered(worker)  # the model has seen the first image's bytes
        shutil.copyfile(IMAGES[1], image)
        with pytest.raises(LedgerError, match="cell0001.png: the file changed while it was inspected"):
            worker.result([image])


def test_errors_of_the_child_are_clear(model: OnnxModel, tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    with InferenceWorker(model.spec) as worker:
        worker.submit([broken])
        with pytest.raises(LedgerError, match="broken.png: not an image OpenCV can decode"):
            worker.result([broken])
        worker.submit([IMAGES[0]])  # the process goes on after a bad batch
        assert len(worker.result([IMAGES[0]])[2]) == 1
        worker._process.kill()
        worker.submit([IMAGES[0]])
        with pytest.raises(LedgerError, match="the inference process ended"):
            worker.result([IMAGES[0]])
    spec = model.spec.__class__(b"not onnx", "classifier", ("a", "b"), 32)
    with pytest.raises(LedgerError, match="ONNX Runtime cannot open the model"):
        InferenceWorker(spec)


@pytest.fixture
def inspector_for(tmp_path: Path) -> Callable[..., tuple[Runtime, Inspector]]:
    """A fresh consortium with the demo model registered; returns (runtime, Inspector(**options))."""
    runtime = open_runtime(Settings(data_dir=tmp_path / "data"))
    demo = Demo(runtime.service, runtime.keys)
    demo.found_consortium()
    demo.calibrate_instruments()
    card_id = registry.register(runtime.service, json.loads(registry.DEMO_CARD.read_text()), member=LAB)
    _, card, model = registry.load(runtime.service, card_id)

    def make(**options: int) -> tuple[Runtime, Inspector]:
        return runtime, Inspector(runtime.service, model, card_id, card, demo.inspection_envelope, LAB, **options)

    return make


def test_the_inspector_anchors_each_batch_as_it_fills(inspector_for: Callable[..., tuple[Runtime, Inspector]]) -> None:
    runtime, inspector = inspector_for(batch=8, anchor_every=16)
    decisions = inspector.run(IMAGES[:28])
    assert len({d.record_id for d in decisions}) == 28
    assert runtime.service.anchor_pending() == 28 - 16  # anchored once 16 had come; 8 + 4 left for the caller


def test_a_run_that_fails_leaves_no_stale_answers_behind(
    inspector_for: Callable[..., tuple[Runtime, Inspector]], tmp_path: Path
) -> None:
    broken = tmp_path / "cell9999.png"
    broken.write_bytes(b"not a png")
    with inspector_for(batch=4)[1] as inspector:
        with pytest.raises(LedgerError, match="cell9999.png: not an image"):
            inspector.run([*IMAGES[:4], broken, *IMAGES[4:12]])  # batches 2 and 3 were already sent ahead
        decisions = inspector.run(IMAGES[20:26])
    assert [d.path for d in decisions] == IMAGES[20:26]
