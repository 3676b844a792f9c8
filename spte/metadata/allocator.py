"""The tag allocator and its proof.

Tags are named fields of software bits.  :func:`allocate` places them (pinned bits are
honoured; the rest go to the *lowest* free bits -- the kernel notes that low, contiguous
fields give better code -- contiguous unless a tag allows a split) and then proves the
result: no tag bit is hardware-owned in a state where the tag may be set, no two tags
overlap, no tag overlaps an owner's bits, and a tagged not-present entry stays
not-present (and a tagged faulting entry still faults).

>>> layout = allocate("ept", {"async_pf_invalid": 1}, states=["not_present"])
>>> layout.mask("async_pf_invalid"), layout.shift("async_pf_invalid")
(8, 3)
>>> hex(layout.encode(0, async_pf_invalid=1)), layout.decode(0x8)
('0x8', {'async_pf_invalid': 1})
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from spte.bits import Runs, bit_list, format_ranges, gather, union, value_runs
from spte.entry import CLASSES, Entry, canonical_format, levels_in_use
from spte.metadata.states import STATES, hardware_owned, has_state, owner_of_bit
from spte.platform import DEFAULT_PLATFORM, Platform


class BitOwner(Protocol):
    """What the allocator needs of an owner (:class:`~spte.metadata.owner.Owner` has more)."""

    name: str

    def owned_bits(self, state: str) -> int: ...

    def owner_of(self, bit: int, state: str) -> str | None: ...


class TagCollision(ValueError):
    """A tag cannot be placed, or a layout breaks the proof."""


@dataclass(frozen=True)
class TagSpec:
    """What a user asks for: a name, a width, optional pinned bits and states."""

    name: str
    width: int
    bits: tuple[int, ...] | None = None  # pinned positions, lowest value bit first
    split: bool = False  # may be spread over non-contiguous bits (like KVM's MMIO gen)
    states: tuple[str, ...] | None = None  # defaults to the layout's states
    meaning: str = ""

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"tag name {self.name!r} is not an identifier")
        if self.bits is not None:
            if len(self.bits) != self.width or len(set(self.bits)) != self.width:
                raise ValueError(f"tag {self.name!r}: {self.width} bits wanted, pinned {list(self.bits)}")
            if any(not 0 <= b < 64 for b in self.bits):
                raise ValueError(f"tag {self.name!r}: pinned bits must be in 0..63")
        if not 1 <= self.width <= 64:
            raise ValueError(f"tag {self.name!r}: width {self.width} is not in 1..64")
        for s in self.states or ():
            if s not in STATES:
                raise ValueError(f"tag {self.name!r}: unknown state {s!r}")


@dataclass(frozen=True)
class Tag:
    """A placed tag: value bit ``i`` lives in entry bit ``bits[i]``."""

    name: str
    bits: tuple[int, ...]
    states: tuple[str, ...]
    meaning: str = ""
    mask: int = field(init=False, repr=False, compare=False)
    # (entry_lo, width, value_shift) per contiguous run, in value-bit order; computed once.
    runs: Runs = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "runs", value_runs(self.bits))
        object.__setattr__(self, "mask", union(1 << b for b in self.bits))

    @property
    def width(self) -> int:
        return len(self.bits)

    @property
    def contiguous(self) -> bool:
        return len(self.runs) == 1

    def get(self, entry: int) -> int:
        return gather(entry, self.runs)

    def put(self, entry: int, value: int) -> int:
        if not 0 <= value < 1 << self.width:
            raise ValueError(f"{self.name}={value:#x} does not fit in {self.width} bit"
                             f"{'s' if self.width > 1 else ''} ({format_ranges(self.mask)})")
        entry &= ~self.mask
        for lo, w, vs in self.runs:
            entry |= ((value >> vs) & ((1 << w) - 1)) << lo
        return entry


@dataclass(frozen=True)
class Proof:
    """What was checked when the layout was built (restated in the C header)."""

    facts: tuple[str, ...]


@dataclass(frozen=True)
class TagLayout:
    """An immutable, proven tag layout for one format."""

    format: str
    platform: Platform
    states: tuple[str, ...]
    levels: tuple[int, ...]
    tags: tuple[Tag, ...]
    owner: BitOwner | None = None
    fault_trigger: int | None = None
    proof: Proof = field(init=False, compare=False)
    _by_name: dict[str, Tag] = field(init=False, repr=False, compare=False)
    # (name, shift, mask) per tag when every tag is one run of bits (decode() is then one mask
    # and shift per tag, as hand-written code would be); None when some tag is split.
    _shifts: tuple[tuple[str, int, int], ...] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {t.name: t for t in self.tags})
        object.__setattr__(self, "proof", prove(self))
        shifts = tuple((t.name, t.bits[0], (1 << t.width) - 1) for t in self.tags if t.contiguous)
        object.__setattr__(self, "_shifts", shifts if len(shifts) == len(self.tags) else None)

    # -- per-tag facts --------------------------------------------------------------------

    def tag(self, name: str) -> Tag:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no tag {name!r} (tags: {', '.join(self._by_name)})") from None

    def mask(self, name: str) -> int:
        return self.tag(name).mask

    def shift(self, name: str) -> int:
        t = self.tag(name)
        if not t.contiguous:
            raise ValueError(f"tag {name!r} is split over bits {format_ranges(t.mask)}; use runs()")
        return t.bits[0]

    def runs(self, name: str) -> Runs:
        return self.tag(name).runs

    @property
    def all_states(self) -> tuple[str, ...]:
        """The layout's states plus any a tag adds, in canonical order."""
        used = set(self.states).union(*(t.states for t in self.tags))
        return tuple(s for s in STATES if s in used)

    @property
    def owned_mask(self) -> int:
        """Every bit some tag may use (tags in disjoint states may share bits)."""
        return union(t.mask for t in self.tags)

    def levels_with(self, state: str) -> tuple[int, ...]:
        """The layout's levels whose entries can be in ``state``."""
        return tuple(lv for lv in self.levels if has_state(self.format, lv, state))

    # -- encode / decode ------------------------------------------------------------------

    def encode(self, entry: int | Entry = 0, **values: int) -> int:
        """``entry`` with the given tags set; other bits are kept."""
        v = int(entry)
        for name, value in values.items():
            v = self.tag(name).put(v, value)
        return v

    def decode(self, entry: int | Entry) -> dict[str, int]:
        v = entry if type(entry) is int else int(entry)
        if self._shifts is not None:
            return {name: v >> shift & mask for name, shift, mask in self._shifts}
        return {t.name: t.get(v) for t in self.tags}

    # -- hardware view --------------------------------------------------------------------

    def hardware_owned(self, state: str, level: int) -> int:
        return hardware_owned(self.format, level, state, self.platform, trigger=self.fault_trigger)

    def hardware_present(self, entry: int, level: int) -> bool:
        return bool(entry & CLASSES[self.format][level][0].layout(self.platform).present_mask)


def prove(layout: TagLayout) -> Proof:
    """Check every invariant; raise :class:`TagCollision` naming the first violation."""
    facts: list[str] = []
    # Two tags may reuse a bit only if no entry state allows both (KVM's MMIO generation
    # reuses the A/D-type and writable bits of present SPTEs, for example).
    for i, a in enumerate(layout.tags):
        for other in layout.tags[i + 1:]:
            shared = set(a.states) & set(other.states)
            if a.mask & other.mask and shared:
                bit = bit_list(a.mask & other.mask)[0]
                raise TagCollision(f"tag {other.name!r} bit {bit} overlaps tag {a.name!r} "
                                   f"(both may be set when {', '.join(sorted(shared))})")
    if len(layout.tags) > 1:
        facts.append("no two tags that may be set in the same state share a bit")
    width = CLASSES[layout.format][layout.levels[0]][0].WIDTH
    for t in layout.tags:
        if t.mask >> width:
            raise TagCollision(f"tag {t.name!r} wants bits {format_ranges(t.mask)}: a {layout.format} entry "
                               f"has bits {width - 1}:0")
        for state in t.states:
            for lv in layout.levels_with(state):
                hw = layout.hardware_owned(state, lv)
                if t.mask & hw:
                    owners = {b: str(owner_of_bit(layout.format, lv, state, b, layout.platform,
                                                  trigger=layout.fault_trigger)) for b in bit_list(t.mask & hw)}
                    raise TagCollision(_collision(t, f"{state} (level {lv})", owners))
            owner = layout.owner
            if owner is not None:
                clash = t.mask & owner.owned_bits(state)
                if clash:
                    raise TagCollision(_collision(t, state, {b: owner.owner_of(b, state) or owner.name
                                                             for b in bit_list(clash)}))
            facts.append(f"{t.name} avoids every hardware bit when {state}"
                         + (f" and every {owner.name} bit" if owner else ""))
    # A tagged not-present entry stays not-present (and, through the hardware-owned bits of
    # the fault state, a tagged faulting entry keeps its trigger).
    tagged = union(t.mask for t in layout.tags if "not_present" in t.states)
    for lv in layout.levels_with("not_present"):
        if layout.hardware_present(tagged, lv):
            raise TagCollision(f"tags make a not-present level-{lv} entry present")
    if any("not_present" in t.states for t in layout.tags):
        facts.append("every tagged not-present entry is still not present to hardware")
    if any("fault" in t.states for t in layout.tags):
        facts.append("every tagged faulting entry keeps its fault trigger")
    return Proof(tuple(facts))


def _collision(t: Tag, where: str, owners: dict[int, str]) -> str:
    """'tag 'x' wants bits 1:0: bit 0 is owned in WHERE by OWNER; bit 1 ...' (owners named)."""
    shown = "; ".join(f"bit {b} is owned in {where} by {who}" for b, who in list(owners.items())[:4])
    more = f"; and {len(owners) - 4} more" if len(owners) > 4 else ""
    return f"tag {t.name!r} wants bits {format_ranges(t.mask)}: {shown}{more}"


def _as_specs(tags: Mapping[str, int | TagSpec | Mapping[str, Any]] | Iterable[TagSpec]) -> list[TagSpec]:
    if isinstance(tags, Mapping):
        out = []
        for name, spec in tags.items():
            if isinstance(spec, TagSpec):
                out.append(spec)
            elif isinstance(spec, int):
                out.append(TagSpec(name, spec))
            else:
                d = dict(spec)
                if "bits" in d and d["bits"] is not None:
                    d["bits"] = tuple(d["bits"])
                if "states" in d and d["states"] is not None:
                    d["states"] = tuple(d["states"])
                out.append(TagSpec(name=name, **d))
        return out
    return list(tags)


def _lowest_run(avail: int, width: int) -> tuple[int, ...] | None:
    for lo in range(avail.bit_length() - width + 1):
        m = ((1 << width) - 1) << lo
        if avail & m == m:
            return tuple(range(lo, lo + width))
    return None


def allocate(format: str, tags: Mapping[str, int | TagSpec | Mapping[str, Any]] | Iterable[TagSpec],
             states: Sequence[str] = ("not_present",), platform: Platform | None = None,
             owner: BitOwner | None = None, *, levels: Sequence[int] | None = None,
             fault_trigger: int | None = None) -> TagLayout:
    """Place ``tags`` in ``format`` entries and prove the result.

    ``tags`` is ``{name: width}``, ``{name: {"width": .., "bits": [..], "split": ..,
    "states": [..]}}`` or a list of :class:`TagSpec`.  ``states`` are where tags may be set
    (per-tag ``states`` override it); ``levels`` default to the levels the platform walks
    (1-4, plus 5 with ``la57``).  ``owner`` (a KVM profile, Linux, Xen) adds the bits that
    owner uses and writes in each state.  ``fault_trigger`` overrides the bits that make a
    faulting entry fault (an owner's MMIO pattern).
    """
    fmt = canonical_format(format)
    p = platform or DEFAULT_PLATFORM
    if fmt == "npt":
        p = p.for_npt()
    for s in states:
        if s not in STATES:
            raise ValueError(f"unknown state {s!r}: expected one of {', '.join(STATES)}")
    all_levels = levels_in_use(fmt, p)
    lvls = tuple(levels) if levels is not None else all_levels
    known = tuple(sorted(CLASSES[fmt]))
    for lv in lvls:
        if lv not in known:
            raise ValueError(f"level {lv!r}: {fmt} entries have levels {', '.join(map(str, known))}")
    if not lvls:
        raise ValueError("no levels given")
    specs = _as_specs(tags)
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate tag names: {names}")
    placed: list[Tag] = []
    taken = 0
    width = CLASSES[fmt][lvls[0]][0].WIDTH

    def available(tag_states: Sequence[str]) -> int:
        avail = (1 << width) - 1
        for state in tag_states:
            for lv in lvls:
                if has_state(fmt, lv, state):
                    avail &= ~hardware_owned(fmt, lv, state, p, trigger=fault_trigger)
            if owner is not None:
                avail &= ~owner.owned_bits(state)
        return avail & ~taken

    # Pinned tags first, so automatic placement never steals their bits.
    for spec in sorted(specs, key=lambda s: s.bits is None):
        tag_states = spec.states or tuple(states)
        if spec.bits is not None:
            bits = spec.bits
        else:
            avail = available(tag_states)
            bits_or_none = _lowest_run(avail, spec.width)
            if bits_or_none is None and spec.split and avail.bit_count() >= spec.width:
                bits_or_none = tuple(bit_list(avail)[: spec.width])
            if bits_or_none is None:
                why = ""
                if owner is not None:
                    owners = dict.fromkeys(o for s in tag_states for b in range(width)
                                           if (o := owner.owner_of(b, s)) is not None)
                    why = "; " + "; ".join(owners) if owners else ""
                raise TagCollision(
                    f"no room for tag {spec.name!r} ({spec.width} bit{'s' if spec.width > 1 else ''}"
                    f"{', split allowed' if spec.split else ', contiguous'}) in {', '.join(tag_states)}: "
                    f"free bits are {format_ranges(avail)}{why}")
            bits = bits_or_none
        placed.append(Tag(spec.name, tuple(bits), tuple(tag_states), spec.meaning))
        taken |= placed[-1].mask
    order = {n: i for i, n in enumerate(names)}
    placed.sort(key=lambda t: order[t.name])
    return TagLayout(fmt, p, tuple(states), lvls, tuple(placed), owner, fault_trigger)
