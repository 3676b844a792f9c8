"""Linux mm as an owner of x86 page-table bits: present PTEs, PROT_NONE and swap entries.

One :class:`LinuxRelease` row per layout: a row is added at every release where the x86
PTE/swap layout changed, as read from ``arch/x86/include/asm/pgtable_types.h``,
``pgtable_64.h``, ``pgtable_64_types.h``, ``pgtable-invert.h``, ``pgtable-3level.h``,
``pgtable-2level.h``, ``include/linux/swap.h`` and ``swapops.h`` (the trees are named in
:data:`RELEASES`).  :data:`RELEASE_MAP` maps every release from 4.14 to 7.1 to its row
(4.15, 4.16, 6.15 and 6.16 were not read and are refused), and :func:`resolve_release`
takes any version string (``6.8.0-45-generic``, ``4.14.300``, ``latest``).
:class:`LinuxOwner` reads one value the way ``pte_none``/``pte_present``/``pte_pfn``/
``pte_to_swp_entry``/``swp_type``/``swp_offset`` of that release do, for x86-64, PAE or
32-bit paging, and says which bits a new software bit must avoid in each entry state.

The configuration assumed is a distribution kernel's: ``CONFIG_MIGRATION``,
``CONFIG_DEVICE_PRIVATE``, ``CONFIG_MEMORY_FAILURE``, ``CONFIG_PTE_MARKER`` (5.19+), and
on x86-64 ``CONFIG_MEM_SOFT_DIRTY``, ``CONFIG_HAVE_ARCH_USERFAULTFD_WP`` (5.7+),
``CONFIG_X86_INTEL_MEMORY_PROTECTION_KEYS``, 4-level paging (``MAX_PHYSMEM_BITS`` 46).

>>> owner("6.8").release.version, owner("5.15.0-105-generic").release.version
('6.12', '5.14')
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
from spte.versions import parse_version

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

    version: str  # the row's key: the release it was first (or, for 4.19/5.4/6.1/6.12/6.19, mainly) read in
    source: str  # every tree whose harness output is this row's (repository @ commit, Makefile version)
    l1tf: bool  # swap offset inverted with the type in 63:59; PROT_NONE PFN inverted (L1TF: 4.19, stable 4.14.63)
    physical_mask_shift: int  # x86-64 __PHYSICAL_MASK_SHIFT: 46 in 4.14.y, 52 from 4.17 (PAE: 52 with L1TF)
    radix_exceptional: bool  # SWP_TYPE_SHIFT leaves RADIX_TREE_EXCEPTIONAL_SHIFT (2) bits (before 4.20)
    uffd_wp: bool  # _PAGE_UFFD_WP / _PAGE_SWP_UFFD_WP (5.7)
    swp_exclusive_64: bool  # _PAGE_SWP_EXCLUSIVE = _PAGE_PWT on x86-64 (5.19)
    swp_exclusive_32: bool  # _PAGE_SWP_EXCLUSIVE = _PAGE_PSE in pgtable-2level.h/-3level.h (6.3)
    softw4: int  # _PAGE_BIT_SOFTW4: 58 until 6.5, 57 from 6.6 (58 became SOFTW5 for shadow stacks)
    devmap: bool  # _PAGE_DEVMAP = _PAGE_SOFTW4 (x86-64 only: ARCH_HAS_PTE_DEVMAP); in 6.14, gone by 6.17
    saved_dirty: bool  # _PAGE_SAVED_DIRTY = _PAGE_SOFTW5 (58) on x86-64, _PAGE_SOFTW2 on 32-bit (6.6)
    noptishadow: bool  # _PAGE_NOPTISHADOW = _PAGE_SOFTW5 in root PGD entries (6.13; not in 6.12.0)
    kernel_4k: bool  # _PAGE_KERNEL_4K = _PAGE_SOFTW3 in kernel mappings (not in 6.14, in 6.17)
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
_DEVICE_4 = ("SWP_DEVICE_WRITE", "SWP_DEVICE_READ", "SWP_DEVICE_EXCLUSIVE_WRITE", "SWP_DEVICE_EXCLUSIVE_READ")
_NOPTISHADOW_BACKPORT = ("_PAGE_NOPTISHADOW (bit 58 in root PGD entries, 6.13) was backported to 6.6.y and 6.12.y "
                         "stable (6.6.87 has it, 6.8.0 and 6.12.0 do not): it is not named here",)

# One row per layout, keyed by the release it was first read in (or, for the rows carried
# before every release was mapped, the release it was read in).  Each row names every tree
# whose headers gave the same harness output (tests/data/linux/README.md); RELEASE_MAP says
# which upstream releases each row covers.
RELEASES: dict[str, LinuxRelease] = {
    r.version: r for r in (
        LinuxRelease(
            "4.14", "Linux v4.14 (pgtable_types.h and swap.h as in v4.14.177; swap macros of v4.14-v4.18 "
            "pgtable_64.h, before the L1TF changes bcd11afa7ada and 2f22b4cd45b6)",
            l1tf=False, physical_mask_shift=46, radix_exceptional=True, uffd_wp=False, swp_exclusive_64=False,
            swp_exclusive_32=False, softw4=58, devmap=True, saved_dirty=False, noptishadow=False,
            kernel_4k=False,
            notes=("4.14.63 and later 4.14.y carry the L1TF swap layout: use linux:4.14.63 (or the point release)",),
            formats=("x86-64",)),
        LinuxRelease(
            "4.14.63", "Linux v4.14.177 (tree linuxzjs/linux-4.14 @ 7b102d5dac53, dir linux-4.14.177); the same "
            "in v4.14.74 (harveydong/linux-4.14-comment @ de4a66be789e): the L1TF swap and PROT_NONE inversion "
            "of 4.19 (stable 4.14.63) with 4.14's 46-bit x86-64 PTE_PFN_MASK",
            l1tf=True, physical_mask_shift=46, radix_exceptional=True, uffd_wp=False, swp_exclusive_64=False,
            swp_exclusive_32=False, softw4=58, devmap=True, saved_dirty=False, noptishadow=False,
            kernel_4k=False),
        LinuxRelease(
            "4.17", "Linux v4.17.0 (tree SaumyaSachdev/linux-4.17 @ 4b4a148ccf12): 4.14's swap layout (type in 13:9, "
            "nothing inverted) with the 52-bit x86-64 PTE_PFN_MASK; the same in v4.18.0 (zzwd/linux-4.18-rt @ "
            "f7bc4a83cb4a, a PREEMPT_RT tree)",
            l1tf=False, physical_mask_shift=52, radix_exceptional=True, uffd_wp=False, swp_exclusive_64=False,
            swp_exclusive_32=False, softw4=58, devmap=True, saved_dirty=False, noptishadow=False,
            kernel_4k=False,
            notes=("stable 4.17.15 and 4.18.1 backported the L1TF swap layout: use the point release",),
            formats=("x86-64",)),
        LinuxRelease(
            "4.19", "Linux v4.19.1 (tree chens37/linux-4.19.1 @ 36e37757ab77)",
            l1tf=True, physical_mask_shift=52, radix_exceptional=True, uffd_wp=False, swp_exclusive_64=False,
            swp_exclusive_32=False, softw4=58, devmap=True, saved_dirty=False, noptishadow=False,
            kernel_4k=False),
        LinuxRelease(
            "5.4", "Linux v5.4.286 (tree KINGFIOX/linux-5.4.286 @ 157e1f2b846f); the same in v4.20.0 "
            "(a4913994/linux-4.20 @ 681419ebe67f, the first with the XArray SWP_TYPE_SHIFT) and v5.6.4 "
            "(shmily1012/linux-5.6.4 @ 93830a5cf2aa)",
            l1tf=True, physical_mask_shift=52, radix_exceptional=False, uffd_wp=False, swp_exclusive_64=False,
            swp_exclusive_32=False, softw4=58, devmap=True, saved_dirty=False, noptishadow=False,
            kernel_4k=False),
        LinuxRelease(
            "5.7", "Linux v5.7.6 (tree HanRunyu/linux-5.7.6-jz2440 @ 21d92341e2a3): _PAGE_UFFD_WP and "
            "_PAGE_SWP_UFFD_WP; the same in v5.7.14 (a5221985/linux-5.7.14 @ 5d0b54d93391), v5.9.1 "
            "(ach84/linux-5.9.1 @ 1722444408da), v5.10.44 (Qiushankonyu/Linux-5.10.44 @ 27d65e554386), v5.11.0 "
            "(CompressionDuck/linux-5.11 @ 2dbae366306d) and v5.12.9 (zhangyinjun/linux-5.12.9 @ 38c16b0cce67)",
            l1tf=True, physical_mask_shift=52, radix_exceptional=False, uffd_wp=True, swp_exclusive_64=False,
            swp_exclusive_32=False, softw4=58, devmap=True, saved_dirty=False, noptishadow=False,
            kernel_4k=False),
        LinuxRelease(
            "5.14", "Linux v5.14.2 (tree Kingdo777/linux-5.14.2-faascale-host @ 56e6f69d075f): "
            "SWP_DEVICE_EXCLUSIVE_WRITE/READ; the same in v5.15.100 (zcjie1/linux-5.15.100 @ 52bed7a9a5ad) "
            "and v5.17.0-rc5 (dunli/linux-5.17 @ a5835cacde99)",
            l1tf=True, physical_mask_shift=52, radix_exceptional=False, uffd_wp=True, swp_exclusive_64=False,
            swp_exclusive_32=False, softw4=58, devmap=True, saved_dirty=False, noptishadow=False,
            kernel_4k=False, device=_DEVICE_4),
        LinuxRelease(
            "5.19", "Linux v5.19.0 (tree yishangzhang/linux-5.19 @ 4a8550523ce9): _PAGE_SWP_EXCLUSIVE, "
            "SWP_MIGRATION_READ_EXCLUSIVE, SWP_PTE_MARKER, SWP_SWAPIN_ERROR; the same in v6.0.1 "
            "(HHRhr/linux-6.0.1 @ 0f3467a6a960)",
            l1tf=True, physical_mask_shift=52, radix_exceptional=False, uffd_wp=True, swp_exclusive_64=True,
            swp_exclusive_32=False, softw4=58, devmap=True, saved_dirty=False, noptishadow=False,
            kernel_4k=False, migration=_MIGRATION_3, device=_DEVICE_4,
            pte_marker=("SWP_PTE_MARKER",), swapin_error=("SWP_SWAPIN_ERROR",),
            pte_markers=("PTE_MARKER_UFFD_WP",)),
        LinuxRelease(
            "6.1", "Linux v6.1 (tree krr-io/linux-6.1.0 @ 2a410d07ec5e, Makefile 6.1.0-rc7): SWP_MIG_YOUNG/DIRTY",
            l1tf=True, physical_mask_shift=52, radix_exceptional=False, uffd_wp=True, swp_exclusive_64=True,
            swp_exclusive_32=False, softw4=58, devmap=True, saved_dirty=False, noptishadow=False,
            kernel_4k=False, migration=_MIGRATION_3, device=_DEVICE_4,
            pte_marker=("SWP_PTE_MARKER",), swapin_error=("SWP_SWAPIN_ERROR",),
            pte_markers=("PTE_MARKER_UFFD_WP",), migration_ad=True),
        LinuxRelease(
            "6.2", "Linux v6.2.12 (tree xmphoenix/linux-6.2.12-slow-motion @ d86fed0db598, dir linux-6.2.12): "
            "SWP_SWAPIN_ERROR became PTE_MARKER_SWAPIN_ERROR",
            l1tf=True, physical_mask_shift=52, radix_exceptional=False, uffd_wp=True, swp_exclusive_64=True,
            swp_exclusive_32=False, softw4=58, devmap=True, saved_dirty=False, noptishadow=False,
            kernel_4k=False, migration=_MIGRATION_3, device=_DEVICE_4, pte_marker=("SWP_PTE_MARKER",),
            pte_markers=("PTE_MARKER_UFFD_WP", "PTE_MARKER_SWAPIN_ERROR"), migration_ad=True),
        LinuxRelease(
            "6.3", "Linux v6.3.8 (tree SToPire/linux-6.3.8 @ 1ab8cd40ddb5): _PAGE_SWP_EXCLUSIVE on 32-bit "
            "(_PAGE_PSE in pgtable-2level.h and pgtable-3level.h)",
            l1tf=True, physical_mask_shift=52, radix_exceptional=False, uffd_wp=True, swp_exclusive_64=True,
            swp_exclusive_32=True, softw4=58, devmap=True, saved_dirty=False, noptishadow=False,
            kernel_4k=False, migration=_MIGRATION_3, device=_DEVICE_4, pte_marker=("SWP_PTE_MARKER",),
            pte_markers=("PTE_MARKER_UFFD_WP", "PTE_MARKER_SWAPIN_ERROR"), migration_ad=True),
        LinuxRelease(
            "6.12", "Linux v6.12.0 (tree shilei-massclouds/linux-6.12 @ e02d6450498d); the same in v6.6.87 "
            "(Yunbaby8/linux-6.6.87-lab @ 7fe0c4ed5035, the first read with the shadow-stack bits), v6.8.0 "
            "(vivo50kff/linux-6.8 @ bc4fae0d3fa3) and v6.11.11 (segzix/linux-6.11.11 @ 323e1467a22a)",
            l1tf=True, physical_mask_shift=52, radix_exceptional=False, uffd_wp=True, swp_exclusive_64=True,
            swp_exclusive_32=True, softw4=57, devmap=True, saved_dirty=True, noptishadow=False,
            kernel_4k=False, migration=_MIGRATION_3, device=_DEVICE_4,
            pte_marker=("SWP_PTE_MARKER",), pte_markers=("PTE_MARKER_UFFD_WP", "PTE_MARKER_POISONED"),
            migration_ad=True, notes=_NOPTISHADOW_BACKPORT),
        LinuxRelease(
            "6.13", "Linux v6.13.2 (tree vivo50kff/linux-6.13.2 @ 9994c1effb65): PTE_MARKER_GUARD, "
            "_PAGE_NOPTISHADOW; the same in v6.14.0 (perishh/linux-6.14 @ 347b100ec166)",
            l1tf=True, physical_mask_shift=52, radix_exceptional=False, uffd_wp=True, swp_exclusive_64=True,
            swp_exclusive_32=True, softw4=57, devmap=True, saved_dirty=True, noptishadow=True,
            kernel_4k=False, migration=_MIGRATION_3, device=_DEVICE_4, pte_marker=("SWP_PTE_MARKER",),
            pte_markers=("PTE_MARKER_UFFD_WP", "PTE_MARKER_POISONED", "PTE_MARKER_GUARD"), migration_ad=True),
        LinuxRelease(
            "6.19", "Linux v6.19.0 (tree matankalina/linux-6.19.10-fork @ 483059de9f93); the same in v6.17.0 "
            "(busysteve/linux-6.17.0-rust-ported-c @ 1e9822c103f8, dir linux), v6.18.2 (gfunkmonk/linux-6.18.2 @ "
            "062668f4d006) and v7.1.5 (danayer/linux-7.1.5 @ 9d1745cf8134)",
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

# Every upstream release -> (row of RELEASES, how it is known).  "read": a tree of that
# release gave the row's harness output byte for byte; "bracketed": the releases on both
# sides did and nothing between them touched these headers' layout in the trees read;
# anything else is a caution shown to the user (describe_owner(), LinuxOwner.cautions).
_GAP = "no {r} tree was read: mapped to {row} (as {seen}); {why}"
RELEASE_MAP: dict[str, tuple[str, str]] = {
    "4.14": ("4.14", "read"),  # the point release decides: see _POINTS
    "4.17": ("4.17", "read"), "4.18": ("4.17", "read"),
    "4.19": ("4.19", "read"),
    "4.20": ("5.4", "read"), **{f"5.{n}": ("5.4", "bracketed") for n in (0, 1, 2, 3)},
    "5.4": ("5.4", "read"), "5.5": ("5.4", "bracketed"), "5.6": ("5.4", "read"),
    "5.7": ("5.7", "read"), "5.8": ("5.7", "bracketed"),
    **{f"5.{n}": ("5.7", "read") for n in (9, 10, 11, 12)},
    "5.13": ("5.7", _GAP.format(r="5.13", row="5.7", seen="5.12.9", why=(
        "SWP_DEVICE_EXCLUSIVE_WRITE/READ, read first in 5.14.2, move every special swap type down by 2"))),
    "5.14": ("5.14", "read"), "5.15": ("5.14", "read"), "5.16": ("5.14", "bracketed"), "5.17": ("5.14", "read"),
    "5.18": ("5.14", _GAP.format(r="5.18", row="5.14", seen="5.17.0-rc5", why=(
        "_PAGE_SWP_EXCLUSIVE, PTE markers, SWP_MIGRATION_READ_EXCLUSIVE and SWP_SWAPIN_ERROR were read "
        "first in 5.19.0 and renumber the special swap types"))),
    "5.19": ("5.19", "read"), "6.0": ("5.19", "read"),
    "6.1": ("6.1", "read"),
    "6.2": ("6.2", "read"),
    "6.3": ("6.3", "read"),
    **{f"6.{n}": ("6.3", _GAP.format(r=f"6.{n}", row="6.3", seen="6.3.8", why=(
        "the swap types are the same on both sides, but _PAGE_SAVED_DIRTY (bit 58, SOFTW4 moved to 57) and "
        "PTE_MARKER_POISONED were read first in 6.6.87")))
       for n in (4, 5)},
    "6.6": ("6.12", "read"), "6.7": ("6.12", "bracketed"), "6.8": ("6.12", "read"),
    "6.9": ("6.12", "bracketed"), "6.10": ("6.12", "bracketed"), "6.11": ("6.12", "read"),
    "6.12": ("6.12", "read"),
    "6.13": ("6.13", "read"), "6.14": ("6.13", "read"),
    "6.17": ("6.19", "read"), "6.18": ("6.19", "read"),
    "6.19": ("6.19", "read"), "7.0": ("6.19", "bracketed"), "7.1": ("6.19", "read"),
}
# Releases no row is given for: the rows on both sides differ in a way a guess would get wrong.
_REFUSED: dict[str, str] = {
    **{f"4.{n}": ("not carried: no 4.15 or 4.16 tree was read; nearest carried: 4.14 (type in bits 13:9, nothing "
                  "inverted, 46-bit PTE_PFN_MASK) and 4.17 (the same swap layout with a 52-bit PTE_PFN_MASK)")
       for n in (15, 16)},
    **{f"6.{n}": ("not carried: no 6.15 or 6.16 tree was read; nearest carried: 6.14 (row 6.13) and 6.17 (row "
                  "6.19), which differ in the special swap types (SWP_DEVICE_EXCLUSIVE_WRITE/READ became one "
                  "SWP_DEVICE_EXCLUSIVE, so hwpoison, migration and device types move up by 1), in _PAGE_DEVMAP "
                  "(bit 57 in 6.14, gone in 6.17) and in _PAGE_KERNEL_4K (bit 11 in kernel mappings, 6.17)")
       for n in (15, 16)},
}
# The L1TF inversion (4.19) came to stable 4.14.63 (read in 4.14.74 and 4.14.177), 4.17.15
# and 4.18.1 (no tree of those read).  release -> (first point release, its row, caution)
_POINTS: dict[str, tuple[int, str, str | None]] = {
    "4.14": (63, "4.14.63", None),
    "4.17": (15, "4.19", "no 4.17.15+ tree was read: stable 4.17.15 took the L1TF swap layout, assumed as 4.19's"),
    "4.18": (1, "4.19", "no 4.18.1+ tree was read: stable 4.18.1 took the L1TF swap layout, assumed as 4.19's"),
}
OLDEST, NEWEST = "4.14", "7.1"


@dataclass(frozen=True)
class Resolution:
    """What a version string means for Linux mm: its upstream release, the row, any caution."""

    requested: str
    release: str  # "6.8", or "4.14.63"-style where the point release decides
    row: LinuxRelease
    cautions: tuple[str, ...] = ()
    distro: str | None = None


def resolve_release(version: str) -> Resolution:
    """Any kernel version string (``6.12``, ``6.12.5``, ``v6.19-rc3``, ``6.8.0-45-generic``,
    ``6.1.0-57-amd64``, ``5.14.0-427.13.1.el9_4.x86_64``, ``latest``) to the row whose layout
    that release has.  A ValueError names the nearest carried releases for one without a row.

    >>> r = resolve_release("6.8.0-45-generic")
    >>> r.release, r.row.version, r.distro
    ('6.8', '6.12', 'Ubuntu')
    >>> resolve_release("4.14.62").row.version, resolve_release("4.14.200").row.version
    ('4.14', '4.14.63')
    """
    text = version.strip()
    if text in ("latest", "newest"):
        text = NEWEST
    try:
        major, minor, sub, rc, rest, distro = parse_version(text)
    except ValueError:
        raise ValueError(f"unknown Linux release {version!r}: expected a release such as 6.12, 6.12.5, v6.19-rc3, "
                         f"6.8.0-45-generic or latest (carried: {OLDEST} to {NEWEST})") from None
    base = f"{major}.{minor}"
    if base in _REFUSED:
        raise ValueError(f"unknown Linux release {version!r}: {_REFUSED[base]}")
    if base not in RELEASE_MAP:
        where = (f"older than {OLDEST}" if (major, minor) < (4, 14) else
                 f"newer than {NEWEST}" if (major, minor) > (7, 1) else f"there was no Linux {base}")
        raise ValueError(f"unknown Linux release {version!r}: {where}; carried: 4.14, 4.17 to 6.14, 6.17 to "
                         f"{NEWEST} (4.15, 4.16, 6.15 and 6.16 are not)")
    key, how = RELEASE_MAP[base]
    cautions: list[str] = []
    release = base
    if rest:
        cautions.append(f"{version} is a {distro} kernel: vendors backport mm changes (RHEL 9's 5.14 carries PTE "
                        f"markers and newer swap types), so its PTEs may not match upstream {base}")
        if sub == 0:
            sub = None  # Ubuntu's 6.8.0-45, Debian's 6.1.0-57: the vendor's sublevel, not a stable release
    if how not in ("read", "bracketed"):
        cautions.append(how)
    if base in _POINTS:
        first, point_row, point_caution = _POINTS[base]
        if sub is None and rest:  # a vendor kernel (RHEL 8's 4.18.0-x): every maintained one took the fix
            key = point_row
            cautions.append(f"the vendor's {base} is read with the L1TF swap layout its stable {base}.{first} "
                            f"took (row {point_row})")
        elif sub is None:
            cautions.append(f"{base} means {base}.0: {base}.{first} and later carry the L1TF swap layout (give the "
                            f"point release, e.g. {base}.{first + 10})")
        elif sub >= first:
            key = point_row
            if point_caution:
                cautions.append(point_caution)
        release = f"{base}.{sub}" if sub is not None else base
    if rc:
        cautions.append(f"{version} is a release candidate: mapped to {base} as released")
    return Resolution(version, release, RELEASES[key], tuple(cautions), distro)


def releases_of(row: str) -> list[str]:
    """The upstream releases a row covers, oldest first (4.14.y split at the point release)."""
    if row == "4.14":
        return ["4.14.0-4.14.62"]
    if row == "4.14.63":
        return ["4.14.63+"]
    if row == "4.17":
        return ["4.17.0-4.17.14", "4.18.0"]
    return [r for r, (k, _) in RELEASE_MAP.items() if k == row] + (["4.17.15+", "4.18.1+"] if row == "4.19" else [])


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
                 kinds: tuple[str, ...] = KINDS, resolution: Resolution | None = None) -> None:
        self.resolution = resolution or Resolution(release.version, release.version, release)
        self.version = self.resolution.release  # the release asked for; ``release`` is the row it has
        self.cautions = self.resolution.cautions
        if format not in release.formats:
            raise ValueError(f"Linux {self.version}: format {format!r} is not carried: formats are "
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
        self.name = f"linux-{self.version}{suffix}{narrowed}"
        self.width = 32 if format == "x86-32" else 64
        self._fields = self._build_fields()

    def __repr__(self) -> str:
        return f"<LinuxOwner {self.name}>"

    def describe_owner(self) -> str:
        """Where this owner's facts come from, and what it assumes (one fact a line)."""
        row = self.release
        lines = [f"{self.name}: Linux {self.version} mm, {self.format} page tables"
                 + ("" if self.kinds == self.KINDS else f", not-present state narrowed to {'+'.join(self.kinds)}"),
                 f"layout: row {row.version}, which covers Linux {', '.join(releases_of(row.version))}",
                 f"source: {row.source}",
                 "config: " + " ".join(c for c, on in (
                     ("MIGRATION", True), ("DEVICE_PRIVATE", True), ("MEMORY_FAILURE", True),
                     ("PTE_MARKER", bool(self.release.pte_marker)), ("MEM_SOFT_DIRTY", self.is_64),
                     ("HAVE_ARCH_USERFAULTFD_WP", self.is_64 and self.release.uffd_wp),
                     ("X86_INTEL_MEMORY_PROTECTION_KEYS", self.is_64)) if on)
                 + (", 4-level paging" if self.is_64 else ""),
                 "special swap types: " + ", ".join(f"{n}={t}" for n, t in self.release.swap_types.items())]
        return "\n".join(lines + [f"note: {n}" for n in row.notes] + [f"caution: {c}" for c in self.cautions])

    def narrow(self, *kinds: str) -> LinuxOwner:
        """The same owner with only some not-present encodings, e.g. ``narrow("swap")``."""
        return LinuxOwner(self.release, self.format, tuple(kinds), self.resolution)

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
            reasons.append(f"{what} set but no swap entry of Linux {self.version} uses it")
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
                                   f"Linux {self.version}")
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
    """The Linux owner of any release :func:`resolve_release` maps to a row."""
    r = resolve_release(version)
    return LinuxOwner(r.row, format, kinds, r)
