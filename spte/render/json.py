"""JSON records of the model's objects: the one place that shapes JSON output.

(The per-value JSON of ``decode --json`` is composed by :mod:`spte.render.fast` from the
same field tables, for speed; tests compare it with :meth:`Entry.fields`.)
"""

from __future__ import annotations

import json
from typing import Any

from spte.bits import Layout
from spte.metadata.allocator import TagLayout


def dumps(record: Any, indent: int | None = 2) -> str:
    return json.dumps(record, indent=indent)


def tag_layout_record(layout: TagLayout) -> dict[str, Any]:
    """A tag layout: tags with masks and runs, the hardware-owned bits per state, the proof."""
    return {
        "format": layout.format,
        "platform": layout.platform._asdict(),
        "states": list(layout.states),
        "levels": list(layout.levels),
        "owner": layout.owner.name if layout.owner else None,
        "tags": [
            {"name": t.name, "width": t.width, "bits": list(t.bits), "mask": f"{t.mask:#018x}",
             "shift": t.bits[0] if t.contiguous else None,
             "runs": [{"bit": lo, "width": w, "value_shift": vs} for lo, w, vs in t.runs],
             "states": list(t.states), "meaning": t.meaning}
            for t in layout.tags
        ],
        "hardware_owned": {s: {str(lv): f"{layout.hardware_owned(s, lv):#018x}" for lv in layout.levels_with(s)}
                           for s in layout.all_states},
        "proof": list(layout.proof.facts),
    }


def layout_record(layout: Layout) -> list[dict[str, Any]]:
    """The resolved fields of an entry layout."""
    return [{"name": f.name, "lo": f.lo, "hi": f.hi, "width": f.width, "mask": f"{f.mask:#x}",
             "role": str(f.role), "meaning": f.meaning, "control": f.control} for f in layout.fields]
