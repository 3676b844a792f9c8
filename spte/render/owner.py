"""An owner's reading of a value, rendered: the one-line suffix and the JSON record.

>>> from spte.metadata.owner import Reading
>>> r = Reading("linux-6.12", "swap", "not_present", "swap entry type 1 offset 0x2", {"swp_type": 1})
>>> reading_suffix(r)
' [linux-6.12 swap] swp_type=0x1'
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from spte.metadata.owner import Owner, Reading
from spte.metadata.states import STATES

Names = Callable[[str, int], "str | None"]


def reading_suffix(r: Reading, names: Names | None = None) -> str:
    """`` [owner kind] name=value ...`` and ``!implausible`` when the owner could not have built the value.

    ``names(field, value)`` gives a value the owner's own name (KVM: ``SPTE_TDP_AD_DISABLED``).
    """
    words = " ".join(f"{k}={(names and names(k, v)) or f'{v:#x}'}" for k, v in r.software.items() if v)
    mark = " !implausible" if r.plausible is False else ""
    return f" [{r.owner} {r.kind}]" + (f" {words}" if words else "") + mark


def reading_text(r: Reading) -> str:
    """The long view: summary, fields, notes, and why the owner could not have built the value."""
    lines = [f"  [{r.owner}] {r.kind}: {r.summary}"]
    if r.software:
        lines.append("  software: " + " ".join(f"{k}={v:#x}" for k, v in r.software.items()))
    lines += [f"  note: {n}" for n in r.notes]
    lines += [f"  not a value {r.owner} builds: {why}" for why in r.reasons]
    return "\n".join(lines)


def named_bits(owner: Owner) -> int:
    """Every bit the owner names in some state (rendered under its names, not the hardware's)."""
    out = 0
    for state in STATES:
        for f in owner.fields(state):
            out |= f.mask
    return out


def reading_record(r: Reading) -> dict[str, Any]:
    """The JSON record of a reading."""
    return {"owner": r.owner, "kind": r.kind, "state": r.state, "summary": r.summary, "software": r.software,
            "notes": list(r.notes), "plausible": r.plausible, "reasons": list(r.reasons)}
