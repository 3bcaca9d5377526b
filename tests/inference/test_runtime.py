"""ONNX Runtime + OpenCV: letterboxing, the YOLOv8 decoder against hand-computed outputs of a small ONNX graph
built here (confidence filter, class-aware NMS, boxes back in image pixels), and a classifier head."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from inference_bridge import yolo
from inference_bridge.preprocess import letterbox, prepare, to_tensor
from inference_bridge.runtime import OnnxModel


def constant_detector(path: Path, raw: np.ndarray) -> Path:
    """A graph whose output is `raw` (shape (1, 4 + nc, N)) plus 0 x the image mean: it runs like a detector."""
    const = numpy_helper.from_array(raw.astype(np.float32), "raw")
    zero = numpy_helper.from_array(np.zeros((1,), np.float32), "zero")
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["raw", "nothing"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "yolo-like",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(raw.shape))],
        [const, zero],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9), path)
    return path


def test_letterbox_keeps_the_aspect_and_maps_boxes_back() -> None:
    image = np.zeros((64, 128), np.uint8)
    boxed, box = prepare(image, 64)
    assert boxed.shape == (64, 64, 3) and (box.scale, box.pad_x, box.pad_y) == (0.5, 0, 16)
    assert (boxed[:16] == 114).all() and (boxed[16:48] == 0).all() and (boxed[48:] == 114).all()
    back = box.to_image(np.array([[0, 16, 64, 48]], np.float32))
    assert back.tolist() == [[0, 0, 128, 64]]
    tensor = to_tensor([boxed])
    assert tensor.shape == (1, 3, 64, 64) and tensor.dtype == np.float32 and tensor.max() <= 1.0
    colour, _ = letterbox(np.full((10, 10, 3), 200, np.uint8), 20)
    assert colour.shape == (20, 20, 3) and colour[10, 10, 0] == 200


def test_yolov8_decoder_on_an_onnx_graph(tmp_path: Path) -> None:
    candidates = [  # cx, cy, w, h, score(crack), score(finger) in model-input pixels
        (20, 20, 10, 10, 0.9, 0.1),  # crack 0.9: kept
        (21, 21, 10, 10, 0.8, 0.05),  # crack 0.8, IoU 0.68 with the first: suppressed
        (21, 21, 10, 10, 0.1, 0.7),  # finger 0.7 on the same spot: another class, kept
        (50, 40, 8, 6, 0.2, 0.3),  # finger 0.3: kept (>= 0.25)
        (10, 50, 4, 4, 0.1, 0.2),  # below the confidence threshold
    ]
    raw = np.array(candidates, np.float32).T[None]  # (1, 6, 5)
    model = OnnxModel(constant_detector(tmp_path / "det.onnx", raw), "detector", ["crack", "finger"], 64)
    assert model.provider in ("CPUExecutionProvider", "CUDAExecutionProvider")
    (prediction,) = model.predict([np.zeros((64, 128), np.uint8)], confidence=0.25, iou=0.45)
    # Letterbox: scale 0.5, padding 16 rows on top: image x = model x / 0.5, image y = (model y - 16) / 0.5.
    assert prediction.detections == [
        yolo.Detection("crack", 0.9, (30.0, 0.0, 50.0, 18.0)),
        yolo.Detection("finger", 0.7, (32.0, 0.0, 52.0, 20.0)),
        yolo.Detection("finger", 0.3, (92.0, 42.0, 108.0, 54.0)),
    ]
    with pytest.raises(ValueError, match="expected a YOLOv8 output"):
        yolo.decode(raw[:, :5], ["crack", "finger"], prepare(np.zeros((64, 64), np.uint8), 64)[1])


def test_classifier_head_softmax(tmp_path: Path) -> None:
    """Logits = the mean of each input channel: a grey image of 51 gives equal logits, hence equal scores."""
    nodes = [helper.make_node("ReduceMean", ["images"], ["logits"], axes=[2, 3], keepdims=0)]
    graph = helper.make_graph(
        nodes,
        "classifier",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 3, 32, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3])],
    )
    path = tmp_path / "cls.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9), path)
    model = OnnxModel(path, "classifier", ["a", "b", "c"], 32)
    flat, red = model.predict(
        [
            np.full((32, 32), 51, np.uint8),
            np.dstack([np.zeros((32, 32), np.uint8)] * 2 + [np.full((32, 32), 255, np.uint8)]),
        ]
    )
    assert [round(p, 4) for _, p in flat.scores] == [0.3333, 0.3333, 0.3333]
    # BGR input, RGB tensor: the red (last BGR) channel becomes channel 0: logits (1, 0, 0).
    expected = np.exp([1.0, 0, 0]) / np.exp([1.0, 0, 0]).sum()
    assert [p for _, p in red.scores] == pytest.approx(expected.tolist(), abs=1e-5)
