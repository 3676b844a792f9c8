"""Entry states and the bits hardware still reads in each.

* ``not_present`` -- legacy formats read only P (bit 0): 63 free bits (31 for 32-bit
  paging).  EPT reads R/W/X (2:0) and, because an EPT violation on a not-present entry
  may become #VE, SUPPRESS_VE (63): 60 free bits; mode-based execute control adds
  bit 10 (59).  ``suppress_ve_to_software=True`` hands bit 63 to software -- only safe
  when the "EPT-violation #VE" control is never set.
* ``present_leaf`` / ``present_nonleaf`` -- the ignored bits of that entry, which the
  platform decides (A/D, MBEC, protection keys, HLAT, AMD bit 8, ...).
* ``fault`` -- a present entry that cannot translate: a set reserved bit (legacy, #PF
  with PFEC.RSVD -- what KVM's MMIO SPTEs use) or W without R (EPT misconfiguration).
  Hardware reads only the trigger; every other bit is free.

>>> bin(free_bits("x86-64", 1, "not_present")).count("1"), free_bits("ept", 1, "not_present").bit_count()
(63, 60)
"""

from __future__ import annotations

from spte.entry import CLASSES, Entry, canonical_format, entry_class
from spte.platform import DEFAULT_PLATFORM, Platform

STATES = ("not_present", "present_leaf", "present_nonleaf", "fault")

SUPPRESS_VE = 1 << 63
EPT_READ, EPT_WRITE = 1 << 0, 1 << 1


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


def fault_trigger(format: str, level: int, platform: Platform | None = None) -> int:
    """The bits that make a present entry fault instead of translating.

    EPT: R=0 with W=1 (bits 1:0), a misconfiguration at every level.  Legacy: P plus the
    highest reserved bit of the entry (bit 51 when MAXPHYADDR < 52, as KVM's MMIO SPTEs
    use; PS is added where only the large-page form has a reserved bit).
    """
    p = platform or DEFAULT_PLATFORM
    fmt = canonical_format(format)
    if fmt == "ept":
        return EPT_READ | EPT_WRITE
    for cls in CLASSES[fmt][level]:
        if cls is None:
            continue
        rsvd = cls.layout(p).reserved_mask
        if rsvd:
            top = 1 << (rsvd.bit_length() - 1)
            ps = 1 << 7 if cls.LEAF and cls.LEVEL > 1 else 0
            return cls.present_mask(p) | top | ps
    raise ValueError(f"{fmt} level {level} has no reserved bit on this platform "
                     f"(MAXPHYADDR {p.maxphyaddr}): there is no reserved-bit fault state")


def hardware_owned(format: str, level: int, state: str, platform: Platform | None = None, *,
                   suppress_ve_to_software: bool = False, trigger: int | None = None) -> int:
    """Bits hardware reads (or writes) in ``state``: the complement of :func:`free_bits`."""
    p = platform or DEFAULT_PLATFORM
    cls = state_class(format, level, state)
    width_mask = (1 << cls.WIDTH) - 1
    if state == "not_present":
        owned = cls.present_mask(p)
        if cls.FORMAT == "ept" and not suppress_ve_to_software:
            owned |= SUPPRESS_VE
        return owned
    if state == "fault":
        return fault_trigger(format, level, p) if trigger is None else trigger
    return width_mask & ~cls.layout(p).ignored_mask


def free_bits(format: str, level: int, state: str, platform: Platform | None = None, *,
              suppress_ve_to_software: bool = False, trigger: int | None = None) -> int:
    """Mask of the bits software may own in ``state`` (count it with ``.bit_count()``).

    >>> hex(free_bits("ept", 1, "present_leaf", Platform(ept_ad=False)))
    '0x7ff0000000000f80'
    >>> free_bits("ept", 1, "not_present", Platform(ept_mbec=True)).bit_count()
    59
    """
    cls = state_class(format, level, state)
    return ((1 << cls.WIDTH) - 1) & ~hardware_owned(
        format, level, state, platform, suppress_ve_to_software=suppress_ve_to_software,
        trigger=trigger)


def owner_of_bit(format: str, level: int, state: str, bit: int, platform: Platform | None = None, *,
                 suppress_ve_to_software: bool = False, trigger: int | None = None) -> str | None:
    """Who owns ``bit`` in ``state`` (e.g. "hardware: execute (permission)"), or None if free."""
    p = platform or DEFAULT_PLATFORM
    owned = hardware_owned(format, level, state, p, suppress_ve_to_software=suppress_ve_to_software,
                           trigger=trigger)
    if not owned >> bit & 1:
        return None
    cls = state_class(format, level, state)
    f = cls.layout(p).field_at(bit)
    why = {"not_present": "read even when not present", "fault": "the fault trigger"}.get(state, str(f.role))
    return f"hardware: {cls.__name__}.{f.name} ({why})"
