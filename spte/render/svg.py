"""A bit-layout picture as SVG: one box per field, coloured by role, with bit numbers."""

from __future__ import annotations

from html import escape

from spte.bits import Layout
from spte.metadata.states import bit_kinds

FILL = {"hardware": "#8fd19e", "reserved": "#f4a6a6", "ignored": "#e6e6e6", "software": "#d7b4f3",
        "free": "#ffffff"}
CELL, ROW_H, MARGIN = 18, 46, 10
TOP = 38  # room for the two title lines


def _title_lines(title: str) -> list[str]:
    """'EPT PTE ... (details)' -> the name, then the details on a second line."""
    name, sep, rest = title.partition(" (")
    return [name, "(" + rest] if sep else [name]


def layout_svg(layout: Layout, title: str, free: int | None = None,
               software: dict[int, str] | None = None, owned: int | None = None) -> str:
    """Two rows of 32 bits (63..32 over 31..0), fields as labelled boxes."""
    kinds = bit_kinds(layout, free, software, owned)
    rows = (layout.width + 31) // 32
    width = 32 * CELL + 2 * MARGIN
    height = MARGIN * 2 + TOP + rows * (ROW_H + 26) + 16 * 5
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="monospace" font-size="9">',
           f'<title>{escape(title)}</title>',
           *(f'<text x="{MARGIN}" y="{MARGIN + 10 + 13 * i}" font-size="{12 - i}">{escape(part)}</text>'
             for i, part in enumerate(_title_lines(title)))]
    for r in range(rows):
        top_bit = layout.width - 1 - 32 * r
        y = MARGIN + TOP + r * (ROW_H + 26)
        for i in range(32):
            b = top_bit - i
            x = MARGIN + i * CELL
            out.append(f'<rect x="{x}" y="{y}" width="{CELL}" height="{ROW_H}" fill="{FILL[kinds[b]]}" '
                       f'stroke="#bbb" stroke-width="0.5"><title>bit {b}: {kinds[b]}</title></rect>')
            out.append(f'<text x="{x + CELL / 2}" y="{y - 2}" text-anchor="middle">{b}</text>')
        for f in layout.fields:
            lo, hi = max(f.lo, top_bit - 31), min(f.hi, top_bit)
            if lo > hi:
                continue
            x = MARGIN + (top_bit - hi) * CELL
            w = (hi - lo + 1) * CELL
            owners = sorted({software[b] for b in range(lo, hi + 1)
                             if software and b in software and kinds[b] == "software"})
            label = "/".join(owners) if owners else (f.short if f.short and f.role.is_hardware else f.name)
            max_chars = max(1, int(w / 5.5))
            shown = label if len(label) <= max_chars else label[: max_chars - 1] + "…"
            out.append(f'<rect x="{x}" y="{y}" width="{w}" height="{ROW_H}" fill="none" stroke="#333">'
                       f'<title>{escape(f.name)} {f.bits_text()}: {escape(str(f.role))}. {escape(f.meaning)}'
                       f'</title></rect>')
            out.append(f'<text x="{x + w / 2}" y="{y + ROW_H / 2 + 3}" text-anchor="middle">{escape(shown)}</text>')
    y = MARGIN + TOP + rows * (ROW_H + 26)
    for i, (kind, colour) in enumerate(FILL.items()):
        if kind == "free" and free is None:
            continue
        out.append(f'<rect x="{MARGIN}" y="{y + i * 16}" width="12" height="12" fill="{colour}" stroke="#333"/>'
                   f'<text x="{MARGIN + 18}" y="{y + i * 16 + 10}">{kind}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


