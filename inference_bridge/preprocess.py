"""Image preprocessing as the models were trained: grey to 3 channels, letterbox to the model's square input
(aspect kept, padded with grey 114 as YOLOv8 does), scaled to [0, 1], NCHW float32. Pure functions."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
Tensor = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Letterbox:
    """How an image was placed in the model input: model = image * scale + (pad_x, pad_y)."""

    scale: float
    pad_x: float
    pad_y: float
    width: int  # original image size
    height: int

    def to_image(self, boxes: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Map x1, y1, x2, y2 boxes from model input coordinates back to the original image, clipped."""
        out = boxes.astype(np.float32).copy()
        out[:, [0, 2]] = (out[:, [0, 2]] - self.pad_x) / self.scale
        out[:, [1, 3]] = (out[:, [1, 3]] - self.pad_y) / self.scale
        out[:, [0, 2]] = out[:, [0, 2]].clip(0, self.width)
        out[:, [1, 3]] = out[:, [1, 3]].clip(0, self.height)
        return out


def to_bgr(image: Image) -> Image:
    """Grey (H, W) or (H, W, 1) -> 3 channels; colour images pass through."""
    if image.ndim == 2 or image.shape[2] == 1:
        return np.asarray(cv2.cvtColor(image.reshape(image.shape[0], image.shape[1]), cv2.COLOR_GRAY2BGR), np.uint8)
    return image


def letterbox(image: Image, size: int, fill: int = 114) -> tuple[Image, Letterbox]:
    """Resize keeping the aspect ratio so the longer side is `size`, then pad to size x size, centred."""
    h, w = image.shape[:2]
    scale = min(size / h, size / w)
    nw, nh = round(w * scale), round(h * scale)
    resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR) if (nw, nh) != (w, h) else image
    pad_x, pad_y = (size - nw) / 2, (size - nh) / 2
    top, left = round(pad_y - 0.1), round(pad_x - 0.1)
    canvas = np.full((size, size, 3), fill, dtype=np.uint8)
    canvas[top : top + nh, left : left + nw] = resized
    return canvas, Letterbox(scale, left, top, w, h)


def to_tensor(images: list[Image]) -> Tensor:
    """(N, H, W, 3) BGR uint8 -> (N, 3, H, W) RGB float32 in [0, 1]."""
    batch = np.stack(images)[..., ::-1].astype(np.float32) / 255.0
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))


def prepare(image: Image, size: int) -> tuple[Image, Letterbox]:
    """Grey or colour image -> letterboxed 3-channel model input."""
    return letterbox(to_bgr(image), size)
