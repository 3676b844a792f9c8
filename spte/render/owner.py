"""An owner's reading of a value, rendered: the one-line suffix and the JSON record.

>>> from spte.metadata.owner import Reading
>>> r = Reading("linux-6.12", "swap", "not_present", "swap entry type 1 offset 0x2", {"swp_type": 1})
>>> reading_suffix(r)
' [linux-6.12 swap] swp_type=0x1'
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from spte.metadata.owner import Owner, PatternLookup, Reading, pattern_lookup, pattern_reader, patterns_of
from spte.metadata.states import STATES
from spte.render.fast import PATTERNS

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
    words = " ".join([f"{k}={(names and names(k, v)) or hex(v)}" for k, v in software.items() if v])
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


def owner_suffix(owner: Owner, level: int) -> Callable[[int], str]:
    """The owner's `` [kvm-6.19:ept-ad present_leaf] mmu_present=0x1 ...`` for one value.

    From the owner's :class:`~spte.metadata.owner.Patterns` when it has them (KVM profiles,
    :func:`~spte.metadata.owner.pattern_reader`: composed once per pattern key and field bits,
    MMIO SPTEs, whose gfn is address bits, per value).  Other owners: memoised by value
    (:func:`_memo_suffix`).
    """
    patterns = patterns_of(owner, level)
    if patterns is None:
        return _memo_suffix(owner, level)
    return pattern_reader(patterns, _suffix_piece(owner))


def owner_suffix_lookup(owner: Owner, level: int) -> tuple[Callable[[int], str], PatternLookup[str] | None]:
    """:func:`owner_suffix`, and its memo for loops that look values up inline (the block loops
    of ``decode --line``, :meth:`spte.render.fast.FastDecoder.line_block`): ``(mask, get,
    suffix)`` as :func:`~spte.metadata.owner.pattern_lookup` gives it, or None where there is
    none (owners without patterns, or whose key needs a match bit)."""
    patterns = patterns_of(owner, level)
    if patterns is None:
        return _memo_suffix(owner, level), None
    found = pattern_lookup(patterns, _suffix_piece(owner))
    if found is None:
        return pattern_reader(patterns, _suffix_piece(owner)), None
    return found[2], found


def _suffix_piece(owner: Owner) -> Callable[[str, dict[str, int], bool | None], str]:
    """:func:`suffix_text` of the owner's readings, from their parts."""
    names, name = getattr(owner, "value_name", None), owner.name
    return lambda kind, fields, plausible: suffix_text(name, kind, fields, plausible, names)


def _memo_suffix(owner: Owner, level: int) -> Callable[[int], str]:
    """The suffix of an owner without :class:`~spte.metadata.owner.Patterns` (Linux, Xen): its
    reading of each value, memoised by value (a swap offset or a pfn may be any of its bits) in
    a memo that stops growing at PATTERNS entries and is never cleared."""
    names = getattr(owner, "value_name", None)
    memo: dict[int, str] = {}
    get = memo.get

    def suffix(v: int) -> str:
        text = get(v)
        if text is None:
            text = reading_suffix(owner.read(v, level), names)
            if len(memo) < PATTERNS:
                memo[v] = text
        return text

    return suffix
