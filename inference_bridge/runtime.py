"""ONNX Runtime sessions for the two model kinds: an image classifier (output (N, classes) logits or
probabilities) and a YOLOv8 detector. CUDA when the machine has it, CPU otherwise."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from inference_bridge import yolo
from inference_bridge.preprocess import Image, Letterbox, prepare, to_tensor

Kind = Literal["classifier", "detector"]


def providers() -> list[str]:
    available = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


@dataclass(frozen=True)
class Prediction:
    """One image's outputs: (label, confidence) per class for a classifier, detections for a detector."""

    scores: list[tuple[str, float]]
    detections: list[yolo.Detection]


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to open the same session again, in another process: the ONNX bytes themselves (the
    ones whose digest was checked, never the file read a second time) and the session settings."""

    onnx: bytes
    kind: Kind
    classes: tuple[str, ...]
    input_size: int
    threads: int = 0
    outputs_probabilities: bool = False


class OnnxModel:
    def __init__(
        self,
        model: str | Path | bytes,
        kind: Kind,
        classes: list[str],
        input_size: int,
        threads: int = 0,
        outputs_probabilities: bool = False,
    ) -> None:
        onnx = model if isinstance(model, bytes) else Path(model).read_bytes()
        self.spec = ModelSpec(onnx, kind, tuple(classes), input_size, threads, outputs_probabilities)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(onnx, options, providers=providers())
        self.kind, self.classes, self.input_size = kind, classes, input_size
        self.outputs_probabilities = outputs_probabilities  # a classifier's head: softmax applied, or logits
        self.input_name = self.session.get_inputs()[0].name

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> OnnxModel:
        return cls(spec.onnx, spec.kind, list(spec.classes), spec.input_size, spec.threads, spec.outputs_probabilities)

    @property
    def provider(self) -> str:
        return str(self.session.get_providers()[0])

    @property
    def runtime(self) -> str:
        return f"onnxruntime {ort.__version__} {self.provider}"

    def run(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        (out,) = self.session.run(None, {self.input_name: batch})[:1]
        return np.asarray(out, dtype=np.float32)

    def predict(self, images: list[Image], confidence: float = 0.25, iou: float = 0.45) -> list[Prediction]:
        prepared = [prepare(image, self.input_size) for image in images]
        batch = to_tensor([p[0] for p in prepared])
        if self.kind == "classifier":
            return [Prediction(self._scores(row), []) for row in self.run(batch)]
        out = []
        for i, (_, box) in enumerate(prepared):  # a detector runs one image at a time: batch 1 is the export
            raw = self.run(batch[i : i + 1])
            out.append(Prediction([], yolo.decode(raw, self.classes, box, confidence, iou)))
        return out

    def _scores(self, row: npt.NDArray[np.float32]) -> list[tuple[str, float]]:
        if not self.outputs_probabilities:
            e = np.exp(row - row.max())
            row = e / e.sum()
        return [(c, round(float(p), 6)) for c, p in zip(self.classes, row, strict=True)]


__all__ = ["Letterbox", "ModelSpec", "OnnxModel", "Prediction", "providers"]
