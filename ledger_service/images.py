"""Synthetic electroluminescence images of solar cells as real PNG files (for the demo and the tests).

A cell is bright where it converts; cracks and inactive areas show dark. Pure Python (zlib), greyscale.
"""

from __future__ import annotations

import random
import struct
import zlib


def _png(width: int, height: int, rows: list[bytes]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + row for row in rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def el_cell_png(seed: int, size: int = 300, cracks: int = 0) -> bytes:
    """A `size` x `size` EL image of one cell with busbars, noise and `cracks` dark crack lines."""
    rng = random.Random(seed)
    pixels = [bytearray(rng.randint(150, 190) for _ in range(size)) for _ in range(size)]
    for bar in (size // 4, size // 2, 3 * size // 4):  # busbars
        for row in range(size):
            for col in range(bar - 2, bar + 2):
                pixels[row][col] = 60
    for _ in range(cracks):
        x, y = rng.uniform(0, size), rng.uniform(0, size)
        dx, dy = rng.uniform(-1, 1), rng.uniform(-1, 1)
        for _ in range(rng.randint(size // 4, size)):
            xi, yi = int(x), int(y)
            if 0 <= xi < size and 0 <= yi < size:
                pixels[yi][xi] = 20
            x, y = x + dx, y + dy
    return _png(size, size, [bytes(r) for r in pixels])
