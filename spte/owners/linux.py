"""Linux mm as an owner of x86 page-table bits: present PTEs, PROT_NONE and swap entries.

One :class:`LinuxRelease` row per kernel release whose layout we carry (every row was read
from that release's ``arch/x86/include/asm/pgtable_types.h``, ``pgtable_64.h``,
``pgtable_64_types.h``, ``pgtable-invert.h``, ``pgtable-3level.h``, ``pgtable-2level.h``,
``include/linux/swap.h`` and ``swapops.h``; the trees are named in :data:`RELEASES`).
:class:`LinuxOwner` reads one value the way ``pte_none``/``pte_present``/``pte_pfn``/
``pte_to_swp_entry``/``swp_type``/``swp_offset`` of that release do, for x86-64, PAE or
32-bit paging, and says which bits a new software bit must avoid in each entry state.

The configuration assumed is a distribution kernel's: ``CONFIG_MIGRATION``,
``CONFIG_DEVICE_PRIVATE``, ``CONFIG_MEMORY_FAILURE``, ``CONFIG_PTE_MARKER`` (5.19+), and
on x86-64 ``CONFIG_MEM_SOFT_DIRTY``, ``CONFIG_HAVE_ARCH_USERFAULTFD_WP`` (5.7+),
``CONFIG_X86_INTEL_MEMORY_PROTECTION_KEYS``, 4-level paging (``MAX_PHYSMEM_BITS`` 46).

>>> o = LinuxOwner(RELEASES["6.12"], "x86-64")
>>> r = o.read(0x608, 1)
>>> r.kind, r.software["swp_type"], hex(r.software["swp_offset"]), r.software["_PAGE_SWP_EXCLUSIVE"]
('swap', 0, '0x3fffffffffffc', 1)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from spte.bits import bit_list, format_ranges, genmask, union
from spte.entry import PaePte, Pte, Pte32, entry_class
from spte.metadata.owner import Reading, SoftwareField
from spte.platform import Platform

U64 = (1 << 64) - 1
STATES = ("not_present", "present_leaf", "present_nonleaf", "fault")
FORMATS = ("x86-64", "pae", "x86-32")


def _hw(cls: type[Pte] | type[PaePte] | type[Pte32], name: str) -> int:
    """Mask of a hardware field of a 4 KiB PTE (the SDM table), for asserting kernel constants."""
    return cls.table_field(name).mask


# Kernel constants (arch/x86/include/asm/pgtable_types.h), each tied to the hardware table.
_PAGE_BIT_PRESENT = 0
assert _hw(Pte, "present") == 1 << _PAGE_BIT_PRESENT
_PAGE_BIT_RW = 1
assert _hw(Pte, "writable") == 1 << _PAGE_BIT_RW
_PAGE_BIT_USER = 2
assert _hw(Pte, "user") == 1 << _PAGE_BIT_USER
_PAGE_BIT_PWT = 3
assert _hw(Pte, "write_through") == 1 << _PAGE_BIT_PWT
_PAGE_BIT_PCD = 4
assert _hw(Pte, "cache_disable") == 1 << _PAGE_BIT_PCD
_PAGE_BIT_ACCESSED = 5
assert _hw(Pte, "accessed") == 1 << _PAGE_BIT_ACCESSED
_PAGE_BIT_DIRTY = 6
assert _hw(Pte, "dirty") == 1 << _PAGE_BIT_DIRTY
_PAGE_BIT_PSE = 7  # PS in a PDE/PDPTE; _PAGE_BIT_PAT (also 7) in a 4 KiB PTE
assert entry_class("x86-64", 2, large=True).layout(Platform()).by_name["page_size"].mask == 1 << _PAGE_BIT_PSE
_PAGE_BIT_PAT = 7
assert _hw(Pte, "pat") == 1 << _PAGE_BIT_PAT
_PAGE_BIT_GLOBAL = 8
assert _hw(Pte, "global") == 1 << _PAGE_BIT_GLOBAL
_PAGE_BIT_SOFTW1 = 9
_PAGE_BIT_SOFTW2 = 10
_PAGE_BIT_SOFTW3 = 11
# The three SOFTW bits are ignored by hardware in the 4 KiB PTE of every legacy format.
assert all(c.layout(Platform()).ignored_mask >> b & 1 for c in (Pte, PaePte, Pte32)
           for b in (_PAGE_BIT_SOFTW1, _PAGE_BIT_SOFTW2, _PAGE_BIT_SOFTW3))
_PAGE_BIT_PKEY_BIT0 = 59
assert _hw(Pte, "protection_key") == genmask(_PAGE_BIT_PKEY_BIT0 + 3, _PAGE_BIT_PKEY_BIT0)
_PAGE_BIT_NX = 63
assert _hw(Pte, "execute_disable") == 1 << _PAGE_BIT_NX
assert _hw(PaePte, "execute_disable") == 1 << _PAGE_BIT_NX
_PAGE_BIT_PROTNONE = _PAGE_BIT_GLOBAL  # in a not-present entry: mapped PROT_NONE (pte_present is true)
_PAGE_BIT_SPECIAL = _PAGE_BIT_SOFTW1
_PAGE_BIT_CPA_TEST = _PAGE_BIT_SOFTW1
_PAGE_BIT_UFFD_WP = _PAGE_BIT_SOFTW2
_PAGE_BIT_SOFT_DIRTY = _PAGE_BIT_SOFTW3
_PAGE_BIT_KERNEL_4K = _PAGE_BIT_SOFTW3

_PAGE_PRESENT = 1 << _PAGE_BIT_PRESENT
_PAGE_RW = 1 << _PAGE_BIT_RW
_PAGE_USER = 1 << _PAGE_BIT_USER
_PAGE_PWT = 1 << _PAGE_BIT_PWT
_PAGE_ACCESSED = 1 << _PAGE_BIT_ACCESSED
_PAGE_DIRTY = 1 << _PAGE_BIT_DIRTY
_PAGE_PSE = 1 << _PAGE_BIT_PSE
_PAGE_PROTNONE = 1 << _PAGE_BIT_PROTNONE
_PAGE_KNL_ERRATUM_MASK = _PAGE_DIRTY | _PAGE_ACCESSED  # x86-64 and PAE: ignored by pte_none()
PAGE_SHIFT = 12
MAX_SWAPFILES_SHIFT = 5
SWP_TYPE_BITS = 5


@dataclass(frozen=True)
class LinuxRelease:
    """What one release does with the bits (see the module docstring for the sources)."""

    version: str
    source: str
    l1tf: bool  # swap offset inverted with the type in 63:59; PROT_NONE PFN inverted (L1TF, 4.19/4.14.63)
    physical_mask_shift: int  # x86-64 __PHYSICAL_MASK_SHIFT (PAE: 52 from 4.19 on, 44 before)
    radix_exceptional: bool  # SWP_TYPE_SHIFT leaves RADIX_TREE_EXCEPTIONAL_SHIFT (2) bits (before 4.20)
    uffd_wp: bool  # _PAGE_UFFD_WP / _PAGE_SWP_UFFD_WP (5.7)
    swp_exclusive_64: bool  # _PAGE_SWP_EXCLUSIVE = _PAGE_PWT on x86-64 (5.19)
    swp_exclusive_32: bool  # _PAGE_SWP_EXCLUSIVE = _PAGE_PSE in pgtable-2level.h/-3level.h (after 6.1)
    softw4: int  # _PAGE_BIT_SOFTW4: 58 through 6.1, 57 in 6.12 (58 became SOFTW5 for shadow stacks, 6.6)
    devmap: bool  # _PAGE_DEVMAP = _PAGE_SOFTW4 (x86-64 only: ARCH_HAS_PTE_DEVMAP); gone by 6.19
    saved_dirty: bool  # _PAGE_SAVED_DIRTY = _PAGE_SOFTW5 (58) on x86-64, _PAGE_SOFTW2 on 32-bit (6.6)
    noptishadow: bool  # _PAGE_NOPTISHADOW = _PAGE_SOFTW5 in root PGD entries (not in 6.12, in 6.19)
    kernel_4k: bool  # _PAGE_KERNEL_4K = _PAGE_SOFTW3 in kernel mappings (not in 6.12, in 6.19)
    # include/linux/swap.h: special swap types in the order the release numbers them down
    # from 1 << MAX_SWAPFILES_SHIFT: hwpoison, migration, device, pte marker, swapin error.
    hwpoison: tuple[str, ...] = ("SWP_HWPOISON",)
    migration: tuple[str, ...] = ("SWP_MIGRATION_READ", "SWP_MIGRATION_WRITE")
    device: tuple[str, ...] = ("SWP_DEVICE_WRITE", "SWP_DEVICE_READ")
    pte_marker: tuple[str, ...] = ()
    swapin_error: tuple[str, ...] = ()
    pte_markers: tuple[str, ...] = ()  # PTE_MARKER_* names, bit 0 first
    migration_ad: bool = False  # SWP_MIG_YOUNG/DIRTY above the PFN in migration offsets (6.1)
    notes: tuple[str, ...] = field(default=())
    formats: tuple[str, ...] = FORMATS  # the paging formats carried (and checked) for this release

    @property
    def max_swapfiles(self) -> int:
        """``MAX_SWAPFILES``: real swap devices are types 0 .. MAX_SWAPFILES - 1."""
        special = (self.hwpoison, self.migration, self.device, self.pte_marker, self.swapin_error)
        return (1 << MAX_SWAPFILES_SHIFT) - sum(len(g) for g in special)

    @property
    def swap_types(self) -> dict[str, int]:
        """Every special swap type by the release's name, numbered as its swap.h does."""
        out = {"MAX_SWAPFILES": self.max_swapfiles}
        n = self.max_swapfiles
        for group in (self.hwpoison, self.migration, self.device, self.pte_marker, self.swapin_error):
            for name in group:
                out[name] = n
                n += 1
        return out

    def swp_type_shift(self, bits_per_long: int) -> int:
        """Generic ``SWP_TYPE_SHIFT``: where swp_entry_t keeps the type (include/linux/swapops.h)."""
        if self.radix_exceptional:
            return bits_per_long - (MAX_SWAPFILES_SHIFT + 2)
        return (bits_per_long - 1) - MAX_SWAPFILES_SHIFT  # BITS_PER_XA_VALUE - MAX_SWAPFILES_SHIFT


_MIGRATION_3 = ("SWP_MIGRATION_READ", "SWP_MIGRATION_READ_EXCLUSIVE", "SWP_MIGRATION_WRITE")

RELEASES: dict[str, LinuxRelease] = {
    r.version: r for r in (
        LinuxRelease(
            "4.14", "Linux v4.14 (pgtable_types.h and swap.h as in v4.14.177; swap macros of v4.14-v4.18 "
            "pgtable_64.h, before the L1TF changes bcd11afa7ada and 2f22b4cd45b6)",
            l1tf=False, physical_mask_shift=46, radix_exceptional=True, uffd_wp=False, swp_exclusive_64=False,
            swp_exclusive_32=False, softw4=58, devmap=True, saved_dirty=False, noptishadow=False,
            kernel_4k=False,
            notes=("4.14.63 and later 4.14.y (like 4.18.1+) carry the L1TF swap layout: use linux:4.19 for them",),
            formats=("x86-64",)),
        LinuxRelease(
            "4.19", "Linux v4.19.1 (tree chens37/linux-4.19.1 @ 36e37757ab77)",
            l1tf=True, physical_mask_shift=52, radix_exceptional=True, uffd_wp=False, swp_exclusive_64=False,
            swp_exclusive_32=False, softw4=58, devmap=True, saved_dirty=False, noptishadow=False,
            kernel_4k=False),
        LinuxRelease(
            "5.4", "Linux v5.4.286 (tree KINGFIOX/linux-5.4.286 @ 157e1f2b846f)",
            l1tf=True, physical_mask_shift=52, radix_exceptional=False, uffd_wp=False, swp_exclusive_64=False,
            swp_exclusive_32=False, softw4=58, devmap=True, saved_dirty=False, noptishadow=False,
            kernel_4k=False),
        LinuxRelease(
            "6.1", "Linux v6.1.0 (tree krr-io/linux-6.1.0 @ 2a410d07ec5e)",
            l1tf=True, physical_mask_shift=52, radix_exceptional=False, uffd_wp=True, swp_exclusive_64=True,
            swp_exclusive_32=False, softw4=58, devmap=True, saved_dirty=False, noptishadow=False,
            kernel_4k=False, migration=_MIGRATION_3,
            device=("SWP_DEVICE_WRITE", "SWP_DEVICE_READ", "SWP_DEVICE_EXCLUSIVE_WRITE",
                    "SWP_DEVICE_EXCLUSIVE_READ"),
            pte_marker=("SWP_PTE_MARKER",), swapin_error=("SWP_SWAPIN_ERROR",),
            pte_markers=("PTE_MARKER_UFFD_WP",), migration_ad=True),
        LinuxRelease(
            "6.12", "Linux v6.12.0 (tree shilei-massclouds/linux-6.12 @ e02d6450498d)",
            l1tf=True, physical_mask_shift=52, radix_exceptional=False, uffd_wp=True, swp_exclusive_64=True,
            swp_exclusive_32=True, softw4=57, devmap=True, saved_dirty=True, noptishadow=False,
            kernel_4k=False, migration=_MIGRATION_3,
            device=("SWP_DEVICE_WRITE", "SWP_DEVICE_READ", "SWP_DEVICE_EXCLUSIVE_WRITE",
                    "SWP_DEVICE_EXCLUSIVE_READ"),
            pte_marker=("SWP_PTE_MARKER",), pte_markers=("PTE_MARKER_UFFD_WP", "PTE_MARKER_POISONED"),
            migration_ad=True),
        LinuxRelease(
            "6.19", "Linux v6.19.0 (tree matankalina/linux-6.19.10-fork @ 483059de9f93)",
            l1tf=True, physical_mask_shift=52, radix_exceptional=False, uffd_wp=True, swp_exclusive_64=True,
            swp_exclusive_32=True, softw4=57, devmap=False, saved_dirty=True, noptishadow=True,
            kernel_4k=True, migration=_MIGRATION_3,
            device=("SWP_DEVICE_WRITE", "SWP_DEVICE_READ", "SWP_DEVICE_EXCLUSIVE"),
            pte_marker=("SWP_PTE_MARKER",),
            pte_markers=("PTE_MARKER_UFFD_WP", "PTE_MARKER_POISONED", "PTE_MARKER_GUARD"),
            migration_ad=True,
            notes=("6.19 decodes with softleaf_from_pte(); the arithmetic is pte_to_swp_entry()'s",)),
    )
}


@dataclass(frozen=True)
class SwapEntry:
    """A not-present, non-PROT_NONE entry decoded as the release's pte_to_swp_entry() does."""

    type: int  # swp_type()
    offset: int  # swp_offset()
    val: int  # swp_entry_t.val: what "Bad swap file entry %lx" prints
    flags: dict[str, int]  # _PAGE_SWP_* bits that were set (cleared before decoding)
    kind: str  # "swap", "migration", "device_private", "device_exclusive", "hwpoison", "pte_marker", ...
    special: str | None  # the SWP_* name of a special type


class LinuxOwner:
    """Linux mm of one release as an owner of x86 page-table bits (the owner protocol).

    ``kinds`` narrows the not-present state to some of its encodings ("swap", "prot_none"):
    a new swap-entry flag only has to avoid what swap entries use.
    """

    KINDS: tuple[str, ...] = ("swap", "prot_none")

    def __init__(self, release: LinuxRelease, format: str = "x86-64",
                 kinds: tuple[str, ...] = KINDS) -> None:
        if format not in release.formats:
            raise ValueError(f"Linux {release.version}: format {format!r} is not carried: formats are "
                             f"{', '.join(release.formats)}")
        for k in kinds:
            if k not in self.KINDS:
                raise ValueError(f"Linux owner: unknown kind {k!r}: expected one of {', '.join(self.KINDS)}")
        self.release = release
        self.format = format
        self.kinds = kinds
        self.platform = Platform()
        suffix = "" if format == "x86-64" else f":{format}"
        narrowed = "" if kinds == self.KINDS else ":" + "+".join(kinds)
        self.name = f"linux-{release.version}{suffix}{narrowed}"
        self.width = 32 if format == "x86-32" else 64
        self._fields = self._build_fields()

    def __repr__(self) -> str:
        return f"<LinuxOwner {self.name}>"

    def describe_owner(self) -> str:
        """Where this owner's facts come from, and what it assumes (one fact a line)."""
        lines = [f"{self.name}: Linux {self.release.version} mm, {self.format} page tables"
                 + ("" if self.kinds == self.KINDS else f", not-present state narrowed to {'+'.join(self.kinds)}"),
                 f"source: {self.release.source}",
                 "config: " + " ".join(c for c, on in (
                     ("MIGRATION", True), ("DEVICE_PRIVATE", True), ("MEMORY_FAILURE", True),
                     ("PTE_MARKER", bool(self.release.pte_marker)), ("MEM_SOFT_DIRTY", self.is_64),
                     ("HAVE_ARCH_USERFAULTFD_WP", self.is_64 and self.release.uffd_wp),
                     ("X86_INTEL_MEMORY_PROTECTION_KEYS", self.is_64)) if on)
                 + (", 4-level paging" if self.is_64 else ""),
                 "special swap types: " + ", ".join(f"{n}={t}" for n, t in self.release.swap_types.items())]
        return "\n".join(lines + [f"note: {n}" for n in self.release.notes])

    def narrow(self, *kinds: str) -> LinuxOwner:
        """The same owner with only some not-present encodings, e.g. ``narrow("swap")``."""
        return LinuxOwner(self.release, self.format, tuple(kinds))

    # -- layout facts ------------------------------------------------------------------------

    @property
    def is_64(self) -> bool:
        return self.format == "x86-64"

    @property
    def pte_pfn_mask(self) -> int:
        """``PTE_PFN_MASK``: PHYSICAL_PAGE_MASK for this format."""
        shift = {"x86-64": self.release.physical_mask_shift, "pae": 52, "x86-32": 32}[self.format]
        return genmask(shift - 1, PAGE_SHIFT)

    @property
    def knl_erratum_mask(self) -> int:
        return 0 if self.format == "x86-32" else _PAGE_KNL_ERRATUM_MASK

    @property
    def inverts(self) -> bool:
        """PROT_NONE PFNs and swap offsets stored inverted (pgtable-invert.h; never on 2-level)."""
        return self.release.l1tf and self.format != "x86-32"

    def swp_flag_bits(self) -> dict[str, int]:
        """The _PAGE_SWP_* flags of this release and format (cleared by pte_swp_clear_flags())."""
        r, out = self.release, {}
        if self.is_64:
            out["_PAGE_SWP_SOFT_DIRTY"] = _PAGE_RW  # CONFIG_MEM_SOFT_DIRTY is x86-64 only
            if r.uffd_wp:
                out["_PAGE_SWP_UFFD_WP"] = _PAGE_USER
            if r.swp_exclusive_64:
                out["_PAGE_SWP_EXCLUSIVE"] = _PAGE_PWT
        elif r.swp_exclusive_32:
            out["_PAGE_SWP_EXCLUSIVE"] = _PAGE_PSE
        return out

    def swap_layout(self) -> dict[str, int]:
        """Masks of the arch swap type and offset fields (``__swp_type``/``__swp_offset``)."""
        if self.format == "x86-32":  # type 5:1, offset 31:9 (pgtable-2level.h)
            return {"swp_type": genmask(5, 1), "swp_offset": genmask(31, 9)}
        if self.release.l1tf:  # type 63:59, ~offset 58:9
            return {"swp_type": genmask(63, 59), "swp_offset": genmask(58, 9)}
        return {"swp_type": genmask(13, 9), "swp_offset": genmask(63, 14)}

    def swap_rules(self) -> dict[int, str]:
        """Bits a swap entry must leave alone, and why (the comment above the swap macros)."""
        out = {_PAGE_BIT_PRESENT: "_PAGE_PRESENT must stay clear", _PAGE_BIT_PROTNONE:
               "_PAGE_PROTNONE must stay clear (it marks a PROT_NONE entry)"}
        if self.format != "x86-32":
            out[_PAGE_BIT_ACCESSED] = out[_PAGE_BIT_DIRTY] = (
                "A/D: an erratum lets hardware set them in not-present entries (_PAGE_KNL_ERRATUM_MASK)")
        if self.is_64:
            out[_PAGE_BIT_PSE] = "bit 7 must stay clear: pmd_present() also tests _PAGE_PSE"
        return out

    # -- fields -------------------------------------------------------------------------------

    def _build_fields(self) -> dict[str, tuple[SoftwareField, ...]]:
        r = self.release
        leaf: list[SoftwareField] = []

        def add(lst: list[SoftwareField], name: str, bits: int, states: tuple[str, ...], meaning: str) -> None:
            lst.append(SoftwareField(name, bits, states, meaning))

        present = ("present_leaf", "fault")
        add(leaf, "_PAGE_SPECIAL", 1 << _PAGE_BIT_SPECIAL, present,
            "special mapping: no struct page to refcount (pte_special)")
        add(leaf, "_PAGE_CPA_TEST", 1 << _PAGE_BIT_CPA_TEST, present,
            "kernel mappings only: set_memory() self-test (same bit as _PAGE_SPECIAL)")
        if self.is_64 and r.uffd_wp:
            add(leaf, "_PAGE_UFFD_WP", 1 << _PAGE_BIT_UFFD_WP, present, "userfaultfd write-protected")
        if r.kernel_4k:
            add(leaf, "_PAGE_KERNEL_4K", 1 << _PAGE_BIT_KERNEL_4K, present,
                "kernel mappings only: never merge into a large page (same bit as _PAGE_SOFT_DIRTY)")
        if self.format != "x86-64" and r.saved_dirty:
            add(leaf, "_PAGE_SAVED_DIRTY", 1 << _PAGE_BIT_SOFTW2, present,
                "dirty, moved out of D while W=0 (32-bit: shares SOFTW2, uffd-wp is 64-bit only)")
        if self.is_64:
            add(leaf, "_PAGE_SOFT_DIRTY", 1 << _PAGE_BIT_SOFT_DIRTY, present, "soft-dirty tracking (clear_refs)")
            if r.devmap:
                add(leaf, "_PAGE_DEVMAP", 1 << r.softw4, present, "ZONE_DEVICE mapping (pte_devmap)")
            if r.saved_dirty:
                add(leaf, "_PAGE_SAVED_DIRTY", 1 << 58, present,
                    "dirty, moved out of D while W=0 so the PTE is not a shadow-stack PTE")
            for i in range(4):
                add(leaf, f"_PAGE_PKEY_BIT{i}", 1 << (_PAGE_BIT_PKEY_BIT0 + i), present,
                    f"protection key bit {i} (hardware when CR4.PKE)")
        nonleaf: list[SoftwareField] = []
        if self.is_64 and r.noptishadow:
            add(nonleaf, "_PAGE_NOPTISHADOW", 1 << 58, ("present_nonleaf",),
                "root PGD entry not copied to the PTI user page table")
        swap: list[SoftwareField] = []
        if "swap" in self.kinds:
            for name, bits in self.swp_flag_bits().items():
                add(swap, name, bits, ("not_present",), {
                    "_PAGE_SWP_SOFT_DIRTY": "swap entry: soft-dirty kept over swap-out/migration",
                    "_PAGE_SWP_UFFD_WP": "swap entry: userfaultfd write-protected",
                    "_PAGE_SWP_EXCLUSIVE": "swap entry: the anonymous page was exclusive (PG_anon_exclusive)",
                }[name])
            lay = self.swap_layout()
            add(swap, "swp_type", lay["swp_type"], ("not_present",), "swap type (__swp_type)")
            add(swap, "swp_offset", lay["swp_offset"], ("not_present",),
                "swap offset (__swp_offset)" + (", stored inverted (L1TF)" if self.inverts else ""))
        prot: list[SoftwareField] = []
        if "prot_none" in self.kinds:
            add(prot, "_PAGE_PROTNONE", _PAGE_PROTNONE, ("not_present",),
                "PROT_NONE or NUMA-hinting entry: P clear, pte_present() true")
            prot += [SoftwareField(f.name, f.mask, ("not_present",), f.meaning + " (kept in PROT_NONE)")
                     for f in leaf if f.name not in ("_PAGE_CPA_TEST", "_PAGE_KERNEL_4K")]
        return {"present_leaf": tuple(leaf), "fault": tuple(leaf), "present_nonleaf": tuple(nonleaf),
                "not_present": tuple(swap + prot)}

    def fields(self, state: str) -> tuple[SoftwareField, ...]:
        _check_state(state)
        return self._fields[state]

    def _rules(self, state: str) -> dict[int, str]:
        """Bits owned by a rule rather than a field, per state."""
        out: dict[int, str] = {}
        if state != "not_present":
            return out
        if "swap" in self.kinds:
            out.update(self.swap_rules())
        if "prot_none" in self.kinds:
            # pte_modify() keeps _PAGE_CHG_MASK (PFN, cache bits, A/D, software bits) in a PROT_NONE
            # entry; the PFN is inverted there after L1TF (pte_pfn undoes it with protnone_mask()).
            for b in bit_list(self.pte_pfn_mask):
                out.setdefault(b, "PROT_NONE entry: the page frame number" + (" (inverted, L1TF)"
                                                                              if self.inverts else ""))
            # _PAGE_CHG_MASK keeps PWT, PCD, A, D and PAT; PAGE_NONE itself is A | PROTNONE (no
            # RW, USER or NX: bits 1, 2 and 63 stay clear in a PROT_NONE entry).
            for b in (_PAGE_BIT_PWT, _PAGE_BIT_PCD, _PAGE_BIT_ACCESSED, _PAGE_BIT_DIRTY, _PAGE_BIT_PSE):
                out.setdefault(b, "PROT_NONE entry: cache, A/D and PAT bits pte_modify() keeps (_PAGE_CHG_MASK)")
        return out

    def owned_bits(self, state: str) -> int:
        _check_state(state)
        return union(f.mask for f in self._fields[state]) | union(1 << b for b in self._rules(state))

    def owner_of(self, bit: int, state: str) -> str | None:
        _check_state(state)
        for f in self._fields[state]:
            if f.mask >> bit & 1:
                return f"{self.name}: {f.name} ({f.meaning})"
        why = self._rules(state).get(bit)
        return f"{self.name}: {why}" if why else None

    # -- reading one value -----------------------------------------------------------------

    def pte_pfn(self, value: int, level: int = 1) -> int:
        """``pte_pfn()``/``pmd_pfn()``: the PFN, un-inverted in a PROT_NONE entry (``protnone_mask()``)."""
        v = value ^ (U64 if self.inverts and value and not value & _PAGE_PRESENT else 0)
        mask = self.pte_pfn_mask
        if level > 1 and value & _PAGE_PSE:  # PHYSICAL_PMD/PUD_PAGE_MASK: bit 12 is PAT there
            per_level = 10 if self.format == "x86-32" else 9  # a 4 MiB page (PSE-36 bits not decoded)
            mask &= ~genmask(PAGE_SHIFT + per_level * (level - 1) - 1, PAGE_SHIFT)
        return (v & mask) >> PAGE_SHIFT

    def decode_swap(self, value: int) -> SwapEntry:
        """``pte_to_swp_entry()`` of this release: clear the flags, decode, rebuild swp_entry_t."""
        flags = {n: int(bool(value & m)) for n, m in self.swp_flag_bits().items() if value & m}
        v = value & ~union(self.swp_flag_bits().values())
        if self.format == "x86-32":
            atype, aoff = (v >> 1) & 0x1F, (v & 0xFFFFFFFF) >> 9
        elif self.release.l1tf:
            atype = v >> (64 - SWP_TYPE_BITS)
            aoff = ((~v & U64) << SWP_TYPE_BITS & U64) >> (_PAGE_BIT_PROTNONE + 1 + SWP_TYPE_BITS)
            if self.format == "pae":  # __pteval_swp_offset() returns a 32-bit unsigned long, then
                aoff &= 0xFFFFFFFF  # __swp_entry() packs type | offset << 5 into 32 bits
                aoff = (aoff << SWP_TYPE_BITS & 0xFFFFFFFF) >> SWP_TYPE_BITS
        else:
            atype, aoff = (v >> (_PAGE_BIT_PROTNONE + 1)) & 0x1F, v >> (_PAGE_BIT_PROTNONE + 1 + SWP_TYPE_BITS)
        shift = self.release.swp_type_shift(32 if self.format != "x86-64" else 64)
        offset = aoff & ((1 << shift) - 1)
        val = atype << shift | offset
        types = self.release.swap_types
        special = next((n for n, t in types.items() if t == atype and n != "MAX_SWAPFILES"), None)
        kind = "swap"
        if special:
            kind = {"SWP_HWPOISON": "hwpoison", "SWP_PTE_MARKER": "pte_marker",
                    "SWP_SWAPIN_ERROR": "swapin_error"}.get(special, "")
            if not kind:
                kind = ("migration" if "MIGRATION" in special else
                        "device_exclusive" if "EXCLUSIVE" in special else "device_private")
        return SwapEntry(atype, offset, val, flags, kind, special)

    def read(self, value: int, level: int) -> Reading:
        if not 0 <= value < 1 << self.width:
            raise ValueError(f"{value:#x} does not fit in a {self.width}-bit {self.format} entry")
        entry_class(self.format, level)  # raises the error naming the format's levels
        v = value
        if not v & ~self.knl_erratum_mask:
            none_notes = ("only A/D set: pte_none() ignores them (hardware erratum)",) if v else ()
            return Reading(self.name, "pte_none", "not_present", "pte_none: empty entry", {}, none_notes, True)
        if v & _PAGE_PRESENT:
            return self._read_present(v, level)
        if v & _PAGE_PROTNONE:
            pfn = self.pte_pfn(v, level)
            sw = self._software(v, "not_present", skip=("swp_type", "swp_offset", *tuple(self.swp_flag_bits())))
            notes = ["PROT_NONE (mprotect or NUMA hinting): pte_present() is true, the CPU faults"]
            if self.inverts:
                notes.append("the PFN is stored inverted against L1TF; pte_pfn() undoes it")
            return Reading(self.name, "prot_none", "not_present", f"PROT_NONE pfn {pfn:#x}", sw, tuple(notes), True)
        return self._read_swap(v, level)

    def _software(self, v: int, state: str, skip: tuple[str, ...] = ()) -> dict[str, int]:
        return {f.name: f.get(v) for f in self._fields[state] if f.get(v) and f.name not in skip}

    def _read_present(self, v: int, level: int) -> Reading:
        leaf = level == 1 or bool(v & _PAGE_PSE)
        state = "present_leaf" if leaf else "present_nonleaf"
        sw = self._software(v, state)
        pfn = self.pte_pfn(v, level)
        notes: list[str] = []
        kind = state
        if leaf and self.release.saved_dirty and self.is_64 and v & (_PAGE_RW | _PAGE_DIRTY) == _PAGE_DIRTY:
            kind = "shadow_stack"
            notes.append("W=0 with D=1: a shadow-stack page where X86_FEATURE_SHSTK is on (pte_shstk)")
        if sw.get("_PAGE_SPECIAL") and sw.get("_PAGE_CPA_TEST"):
            notes.append("bit 9 is _PAGE_SPECIAL in user mappings, _PAGE_CPA_TEST only in kernel self-tests")
            del sw["_PAGE_CPA_TEST"]
        if sw.get("_PAGE_SOFT_DIRTY") and sw.get("_PAGE_KERNEL_4K"):
            notes.append("bit 11 is _PAGE_SOFT_DIRTY in user mappings, _PAGE_KERNEL_4K in kernel mappings")
            del sw["_PAGE_KERNEL_4K"]
        what = "PTE" if level == 1 else ("huge page" if leaf else "table")
        return Reading(self.name, kind, state, f"present {what} pfn {pfn:#x}", sw, tuple(notes), True)

    def _read_swap(self, v: int, level: int) -> Reading:
        e = self.decode_swap(v)
        lay = self.swap_layout()
        sw: dict[str, int] = dict(e.flags) | {"swp_type": e.type, "swp_offset": e.offset}
        notes: list[str] = [f"swp_entry_t {e.val:#x}: a bad one is printed as 'Bad swap file entry {e.val:x}'"]
        reasons: list[str] = []
        stray = v & ~(lay["swp_type"] | lay["swp_offset"] | union(self.swp_flag_bits().values())
                      | self.knl_erratum_mask)
        if stray:
            what = f"bits {format_ranges(stray)} are" if stray & (stray - 1) else f"bit {format_ranges(stray)} is"
            reasons.append(f"{what} set but no swap entry of Linux {self.release.version} uses it")
        summary = f"swap entry type {e.type} offset {e.offset:#x}"
        if e.special:
            summary = f"{e.kind} entry ({e.special}, type {e.type}) offset {e.offset:#x}"
            if e.kind in ("migration", "device_private", "device_exclusive", "hwpoison"):
                # swp_offset_pfn(): from 6.1 the PFN is SWP_PFN_BITS wide (MAX_PHYSMEM_BITS 46 - PAGE_SHIFT
                # on 4-level x86-64) with the migration young/dirty bits above it; before, the offset.
                pfn_bits = 34 if self.is_64 and self.release.migration_ad else 64
                pfn = e.offset & ((1 << pfn_bits) - 1)
                summary += f" pfn {pfn:#x}"
                if e.kind == "migration" and self.release.migration_ad and self.is_64:
                    for name, bit in (("SWP_MIG_YOUNG", pfn_bits), ("SWP_MIG_DIRTY", pfn_bits + 1)):
                        if e.offset >> bit & 1:
                            sw[name] = 1
            elif e.kind == "pte_marker":
                known = union(1 << i for i in range(len(self.release.pte_markers)))
                for i, name in enumerate(self.release.pte_markers):
                    if e.offset >> i & 1:
                        sw[name] = 1
                if e.offset & ~known:
                    reasons.append(f"PTE marker bits {e.offset & ~known:#x} are not defined in "
                                   f"Linux {self.release.version}")
        else:
            notes.append(f"types 0..{self.release.max_swapfiles - 1} are swap devices")
        if level > 1:
            notes.append("a PMD-level swap entry is a THP migration entry (x86-64 only)")
        if e.flags:
            notes.append("cleared before decoding: " + ", ".join(e.flags))
        notes += self.release.notes
        return Reading(self.name, e.kind, "not_present", summary, sw, tuple(notes), not reasons, tuple(reasons))


def _check_state(state: str) -> None:
    if state not in STATES:
        raise ValueError(f"unknown state {state!r}: expected one of {', '.join(STATES)}")


def owner(version: str, format: str = "x86-64", kinds: tuple[str, ...] = LinuxOwner.KINDS) -> LinuxOwner:
    """The Linux owner of a carried release (:data:`RELEASES`)."""
    v = version.lstrip("v")
    if v not in RELEASES:
        raise ValueError(f"unknown Linux release {version!r}: releases are {', '.join(RELEASES)}")
    return LinuxOwner(RELEASES[v], format, kinds)
