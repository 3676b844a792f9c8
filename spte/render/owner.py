"""An owner's reading of a value, rendered: the one-line suffix and the JSON record.

>>> from spte.metadata.owner import Reading
>>> r = Reading("linux-6.12", "swap", "not_present", "swap entry type 1 offset 0x2", {"swp_type": 1})
>>> reading_suffix(r)
' [linux-6.12 swap] swp_type=0x1'
"""

from __future__ import annotations

from typing import Any

from spte.metadata.owner import Reading


def reading_suffix(r: Reading) -> str:
    """`` [owner kind] name=value ...`` and ``!implausible`` when the owner could not have built the value."""
    words = " ".join(f"{k}={v:#x}" for k, v in r.software.items() if v)
    mark = " !implausible" if r.plausible is False else ""
    return f" [{r.owner} {r.kind}]" + (f" {words}" if words else "") + mark


def reading_record(r: Reading) -> dict[str, Any]:
    """The JSON record of a reading."""
    return {"owner": r.owner, "kind": r.kind, "state": r.state, "summary": r.summary, "software": r.software,
            "notes": list(r.notes), "plausible": r.plausible, "reasons": list(r.reasons)}
