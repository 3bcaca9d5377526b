"""Small SVG charts for reports (inline, no plotting library): horizontal bars with labels and values."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape


def bars(title: str, items: Sequence[tuple[str, float]], percent: bool = False, width: int = 520) -> str:
    """A horizontal bar chart; `percent` draws values in [0, 1] against a 100 % scale."""
    row, left, top = 22, 170, 28
    height = top + row * max(len(items), 1) + 10
    scale = 1.0 if percent else max([v for _, v in items] + [1e-9])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<text x="0" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    span = width - left - 70
    for i, (label, value) in enumerate(items):
        y = top + i * row
        length = max(0.0, min(1.0, value / scale)) * span
        shown = f"{value * 100:.2f} %" if percent else f"{value:,.6g}"
        parts += [
            f'<text x="{left - 6}" y="{y + 14}" font-size="11" text-anchor="end">{escape(label[:28])}</text>',
            f'<rect x="{left}" y="{y + 3}" width="{span}" height="14" fill="#eef1f4"/>',
            f'<rect x="{left}" y="{y + 3}" width="{length:.1f}" height="14" fill="#2f6f9f"/>',
            f'<text x="{left + span + 6}" y="{y + 14}" font-size="11">{shown}</text>',
        ]
    if not items:
        parts.append(f'<text x="{left}" y="{top + 14}" font-size="11" fill="#777">no data in the period</text>')
    parts.append("</svg>")
    return "".join(parts)
