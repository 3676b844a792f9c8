"""Entry states, the bits hardware still reads in each, and the bit-kind map.

* ``not_present`` -- hardware reads only the ``presence`` rows (P; EPT R/W/X, and
  user-execute with MBEC) and the rows it reads even then (``read_not_present``: EPT
  SUPPRESS_VE while the "EPT-violation #VE" control may be set, ``Platform.ept_ve``).
  Legacy: 63 free bits (31 for 32-bit paging); EPT: 60 (59 with MBEC; 61 with
  ``ept_ve=False``, safe only when #VE is never enabled).
* ``present_leaf`` / ``present_nonleaf`` -- the ignored bits of that entry, which the
  platform decides (A/D, MBEC, protection keys, HLAT, AMD bit 8, ...).
* ``fault`` -- a present entry that cannot translate: a set reserved bit (legacy, #PF
  with PFEC.RSVD -- what KVM's MMIO SPTEs use) or W without R (EPT misconfiguration,
  ``ept.FAULT_RULE``).  Hardware reads only the trigger; every other bit is free.

>>> bin(free_bits("x86-64", 1, "not_present")).count("1"), free_bits("ept", 1, "not_present").bit_count()
(63, 60)
"""

from __future__ import annotations

from spte.bits import Layout, Role
from spte.entry import CLASSES, Entry, canonical_format, entry_class
from spte.formats.ept import FAULT_RULE
from spte.platform import DEFAULT_PLATFORM, Platform

STATES = ("not_present", "present_leaf", "present_nonleaf", "fault")


def _check_state(state: str) -> None:
    if state not in STATES:
        raise ValueError(f"unknown state {state!r}: expected one of {', '.join(STATES)}")


def state_class(format: str, level: int, state: str) -> type[Entry]:
    """The entry class that describes an entry of ``format``/``level`` in ``state``."""
    _check_state(state)
    fmt = canonical_format(format)
    table_cls = entry_class(fmt, level)
    large_cls = CLASSES[fmt][level][1]
    if state == "present_leaf":
        if table_cls.LEAF:
            return table_cls
        if large_cls is None:
            raise ValueError(f"{fmt} level {level} entries are never leaves")
        return large_cls
    if state == "present_nonleaf" and table_cls.LEAF:
        raise ValueError(f"{fmt} level {level} entries are always leaves")
    return table_cls


def has_state(format: str, level: int, state: str) -> bool:
    """Whether entries of ``format`` at ``level`` can be in ``state`` (a PML4E is never a leaf)."""
    try:
        state_class(format, level, state)
    except ValueError:
        return False
    return True


def fault_trigger(format: str, level: int, platform: Platform | None = None) -> int:
    """The bits that make a present entry fault instead of translating.

    EPT: the fields of :data:`~spte.formats.ept.FAULT_RULE` (W without R), a
    misconfiguration at every level.  Legacy: the presence bits plus the highest reserved
    bit of the entry (bit 51 when MAXPHYADDR < 52, as KVM's MMIO SPTEs use), and PS where
    only the large-page form has a reserved bit.
    """
    p = platform or DEFAULT_PLATFORM
    fmt = canonical_format(format)
    table_cls = entry_class(fmt, level)
    if fmt == "ept":
        layout = table_cls.layout(p)
        return sum(layout.by_name[name].mask for name in FAULT_RULE.fields)
    for cls in CLASSES[fmt][level]:
        if cls is None:
            continue
        layout = cls.layout(p)
        if layout.reserved_mask:
            top = 1 << (layout.reserved_mask.bit_length() - 1)
            ps = table_cls.layout(p).page_size_mask if cls is not table_cls else 0  # PS selects that form
            return layout.present_mask | top | ps
    raise ValueError(f"{fmt} level {level} has no reserved bit on this platform "
                     f"(MAXPHYADDR {p.maxphyaddr}): there is no reserved-bit fault state")


def hardware_owned(format: str, level: int, state: str, platform: Platform | None = None, *,
                   trigger: int | None = None) -> int:
    """Bits hardware reads (or writes) in ``state``: the complement of :func:`free_bits`."""
    p = platform or DEFAULT_PLATFORM
    cls = state_class(format, level, state)
    layout = cls.layout(p)
    if state == "not_present":
        return layout.present_mask | layout.not_present_read_mask
    if state == "fault":
        return fault_trigger(format, level, p) if trigger is None else trigger
    return ((1 << cls.WIDTH) - 1) & ~layout.ignored_mask


def free_bits(format: str, level: int, state: str, platform: Platform | None = None, *,
              trigger: int | None = None) -> int:
    """Mask of the bits software may own in ``state`` (count it with ``.bit_count()``).

    >>> hex(free_bits("ept", 1, "present_leaf", Platform(ept_ad=False)))
    '0x7ff0000000000f80'
    >>> free_bits("ept", 1, "not_present", Platform(ept_mbec=True)).bit_count()
    59
    """
    cls = state_class(format, level, state)
    return ((1 << cls.WIDTH) - 1) & ~hardware_owned(format, level, state, platform, trigger=trigger)


def owner_of_bit(format: str, level: int, state: str, bit: int, platform: Platform | None = None, *,
                 trigger: int | None = None) -> str | None:
    """Who owns ``bit`` in ``state`` (e.g. "hardware: execute (permission)"), or None if free."""
    p = platform or DEFAULT_PLATFORM
    owned = hardware_owned(format, level, state, p, trigger=trigger)
    if not owned >> bit & 1:
        return None
    cls = state_class(format, level, state)
    f = cls.layout(p).field_at(bit)
    why = {"not_present": "read even when not present", "fault": "the fault trigger"}.get(state, str(f.role))
    return f"hardware: {cls.__name__}.{f.name} ({why})"


KINDS = ("hardware", "reserved", "ignored", "software", "free")


def bit_kinds(layout: Layout, free: int | None = None, software: dict[int, str] | None = None,
              owned: int | None = None) -> list[str]:
    """One of :data:`KINDS` per bit, lowest first.

    Without a state, a bit is what its row says (hardware, reserved or ignored) unless an
    owner's ``software`` names it.  With ``owned`` (the bits hardware reads in some entry
    state) and ``free`` (what software may still take there), only owned bits are hardware
    or reserved; the rest are free, software-owned or, if neither, ignored.
    """
    kinds = []
    for b in range(layout.width):
        f = layout.field_at(b)
        if owned is not None and owned >> b & 1:
            kinds.append("reserved" if f.role is Role.RESERVED else "hardware")
        elif free is not None and free >> b & 1:
            kinds.append("free")
        elif software and b in software:
            kinds.append("software")
        elif owned is not None or f.role is Role.IGNORED:
            kinds.append("ignored")
        else:
            kinds.append("reserved" if f.role is Role.RESERVED else "hardware")
    return kinds
