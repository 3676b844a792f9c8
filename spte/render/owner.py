"""An owner's reading of a value, rendered: the one-line suffix and the JSON record.

>>> from spte.metadata.owner import Reading
>>> r = Reading("linux-6.12", "swap", "not_present", "swap entry type 1 offset 0x2", {"swp_type": 1})
>>> reading_suffix(r)
' [linux-6.12 swap] swp_type=0x1'
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from spte.metadata.owner import Owner, Reading, pattern_reader, patterns_of
from spte.metadata.states import STATES
from spte.render.fast import PATTERNS, FastDecoder

Names = Callable[[str, int], "str | None"]
IMPLAUSIBLE = " !implausible"  # the mark of a value the owner could not have built


def reading_suffix(r: Reading, names: Names | None = None) -> str:
    """`` [owner kind] name=value ...`` and ``!implausible`` when the owner could not have built the value.

    ``names(field, value)`` gives a value the owner's own name (KVM: ``SPTE_TDP_AD_DISABLED``).
    """
    return suffix_text(r.owner, r.kind, r.software, r.plausible, names)


def suffix_text(owner: str, kind: str, software: dict[str, int], plausible: bool | None,
                names: Names | None = None) -> str:
    """:func:`reading_suffix` from the parts of a reading."""
    return f" [{owner} {kind}]" + suffix_words(software, names) + (IMPLAUSIBLE if plausible is False else "")


def suffix_words(software: dict[str, int], names: Names | None = None) -> str:
    """`` name=value ...`` of the non-zero fields (empty without any)."""
    words = " ".join(f"{k}={(names and names(k, v)) or f'{v:#x}'}" for k, v in software.items() if v)
    return f" {words}" if words else ""


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


def owner_pattern_mask(owner: Owner, fast: FastDecoder) -> int:
    """Bits the owner's reading cannot depend on: the address bits of both entry forms, less
    every bit one of a KVM profile's predicates tests (its masks and values, e.g. an MMIO mask
    that reaches into the address).  Other owners declare no such bits: 0, no sharing."""
    masks = getattr(owner, "masks", None)
    if masks is None:
        return 0
    address = fast.table.address_mask & (fast.large.address_mask if fast.large else -1)
    tested = 0
    for name, mask in masks.as_dict().items():
        if name not in ("physical_mask", "SPTE_BASE_ADDR_MASK", "shadow_phys_bits",
                        "shadow_nonpresent_or_rsvd_mask", "shadow_nonpresent_or_rsvd_lower_gfn_mask"):
            tested |= mask
    return address & ~tested


def owner_suffix(owner: Owner, fast: FastDecoder, level: int) -> Callable[[int], str]:
    """The owner's `` [kvm-6.19:ept-ad present_leaf] mmu_present=0x1 ...`` for one value.

    From the owner's :class:`~spte.metadata.owner.Patterns` when it has them (KVM profiles,
    :func:`~spte.metadata.owner.pattern_reader`: composed once per pattern key and field bits,
    MMIO SPTEs, whose gfn is address bits, per value).  Other owners: memoised per non-address
    pattern (:func:`_memo_suffix`).
    """
    patterns = patterns_of(owner, level)
    if patterns is None:
        return _memo_suffix(owner, fast, level)
    names = getattr(owner, "value_name", None)
    name = owner.name
    return pattern_reader(patterns, lambda kind, fields, plausible: suffix_text(name, kind, fields, plausible, names))


def _memo_suffix(owner: Owner, fast: FastDecoder, level: int) -> Callable[[int], str]:
    """An owner's suffix without patterns, for one value.

    Memoised per non-address pattern: ``v`` with the bits of :func:`owner_pattern_mask` cleared,
    and whether any of them was set (so an empty SPTE never shares a key with one that has a
    pfn).  A reading is memoised only if none of its fields has a bit there (an MMIO SPTE's
    gfn never is), and only when the owner's exact values (the empty SPTE, the frozen value)
    have none of those bits.  The memo stops growing at PATTERNS entries and is never cleared.
    """
    free = owner_pattern_mask(owner, fast)
    exact = (0, getattr(owner, "SHADOW_NONPRESENT_VALUE", 0), getattr(owner, "frozen_value", 0) or 0)
    if any(e & free for e in exact):
        free = 0
    keep = ~free & ((1 << 65) - 1)
    field_masks = {f.name: f.mask for state in STATES for f in owner.fields(state)}
    names = getattr(owner, "value_name", None)
    memo: dict[int, str] = {}
    get = memo.get

    def suffix(v: int) -> str:
        key = (v & keep) | (1 << 64 if v & free else 0)
        text = get(key)
        if text is None:
            r = owner.read(v, level)
            text = reading_suffix(r, names)
            if len(memo) < PATTERNS and not any(field_masks.get(k, -1) & free for k in r.software):
                memo[key] = text
        return text

    return suffix
