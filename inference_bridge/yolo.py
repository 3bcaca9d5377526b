"""Decoding YOLOv8 detector output: `[1, 4 + nc, N]` (cx, cy, w, h, then one score per class, no objectness),
confidence filter, class-aware non-maximum suppression, boxes mapped back to image coordinates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from inference_bridge.preprocess import Letterbox


@dataclass(frozen=True)
class Detection:
    label: str
    confidence: float
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in image pixels


def iou(box: npt.NDArray[np.float32], others: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    x1 = np.maximum(box[0], others[:, 0])
    y1 = np.maximum(box[1], others[:, 1])
    x2 = np.minimum(box[2], others[:, 2])
    y2 = np.minimum(box[3], others[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    ratio: npt.NDArray[np.float32] = (inter / np.maximum(area + areas - inter, 1e-9)).astype(np.float32)
    return ratio


def nms(boxes: npt.NDArray[np.float32], scores: npt.NDArray[np.float32], threshold: float) -> list[int]:
    """Indexes kept by greedy non-maximum suppression, best score first."""
    order = list(np.argsort(-scores, kind="stable"))
    keep: list[int] = []
    while order:
        best = order.pop(0)
        keep.append(int(best))
        if order:
            overlaps = iou(boxes[best], boxes[order])
            order = [i for i, o in zip(order, overlaps, strict=True) if o <= threshold]
    return keep


def decode(
    output: npt.NDArray[np.float32],
    classes: list[str],
    letterbox: Letterbox,
    confidence: float = 0.25,
    iou_threshold: float = 0.45,
    max_detections: int = 300,
) -> list[Detection]:
    """Detections of one image from a YOLOv8 output of shape (1, 4 + nc, N)."""
    if output.ndim != 3 or output.shape[0] != 1 or output.shape[1] != 4 + len(classes):
        raise ValueError(f"expected a YOLOv8 output (1, {4 + len(classes)}, N), got {output.shape}")
    predictions = output[0].T  # (N, 4 + nc)
    scores = predictions[:, 4:]
    class_ids = scores.argmax(axis=1)
    best = scores[np.arange(len(scores)), class_ids]
    mask = best >= confidence
    if not mask.any():
        return []
    cx, cy, w, h = predictions[mask, :4].T
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).astype(np.float32)
    kept_scores, kept_classes = best[mask].astype(np.float32), class_ids[mask]
    found: list[tuple[int, int]] = []  # (class, index)
    for c in np.unique(kept_classes):  # class-aware: boxes of different classes never suppress each other
        idx = np.flatnonzero(kept_classes == c)
        found += [(int(c), int(idx[i])) for i in nms(boxes[idx], kept_scores[idx], iou_threshold)]
    found.sort(key=lambda ci: -kept_scores[ci[1]])
    found = found[:max_detections]
    image_boxes = letterbox.to_image(boxes[[i for _, i in found]]) if found else boxes[:0]
    return [
        Detection(classes[c], round(float(kept_scores[i]), 6), tuple(round(float(v), 2) for v in box))  # type: ignore[arg-type]
        for (c, i), box in zip(found, image_boxes, strict=True)
    ]
