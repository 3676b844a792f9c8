"""Every printout that carries page-table entries, declared once, as data.

A :class:`Printout` is one kernel (or Xen) format string, copied from the source it cites,
with a name for each conversion and what the line *is*: one entry at a printed level, an
old -> new transition, one step of a walk, a walk's header, a register that points at a
walk's root, ...  :func:`compile_printout` turns the format string into a regular
expression over bytes; the same declaration gives the line scanner its needle (a literal
found with ``bytes.find``), the parser its groups, and the error messages their words
("no level after the spte").

Trimmed lines are read: everything after the last conversion the line needs (its value and
level) is optional, so ``kvm_mmu_set_spte: gfn 2 spte 8000... (r--u) level 1`` without its
`` at <sptep>`` tail still decodes.

>>> p = BY_NAME["kvm_mmu_set_spte"]
>>> m = p.regex.match(b"gfn 2 spte 800000012d6a5a25 (r--u) level 1")
>>> m["spte"], m["level"], m["sptep"]
(b'800000012d6a5a25', b'1', None)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property


class Shape(StrEnum):
    """What one printout says about the values it carries."""

    ENTRY = "entry"  # one entry ("spte"/"pte") at a printed "level"
    TRANSITION = "transition"  # "old" -> "new" at a printed "level"
    STEP = "step"  # one entry of a walk (level printed, or from its position)
    LABELS = "labels"  # several labelled entries of one walk on one line (PGD ... PTE)
    WALK_START = "walk_start"  # a walk's header (may print the address walked)
    WALK_END = "walk_end"  # a walk's end (KVM's walker error)
    RSVD_SET = "rsvd_set"  # the reserved bits the kernel found set in the previous entry
    REGISTER = "register"  # a value that points at a root table (EPTP, nCR3): level null
    SWAP = "swap"  # a swp_entry_t: an architecture-independent swap entry, not a PTE
    CLAIM = "claim"  # what the kernel found wrong with the transition printed a few lines below
    NOTICE = "notice"  # a known event that carries no entry but is worth a word (``notice``)
    NONE = "none"  # a known event that carries no entry


@dataclass(frozen=True)
class Printout:
    """One format string of the kernel or Xen and how to read what it prints."""

    name: str  # the event word of records: the tracepoint, or the printing function
    owner: str  # "kvm", "guest", "linux", "xen"
    needle: str  # a literal that starts the matched text, found with bytes.find
    fmt: str  # the format string from ``needle`` on, as in the source
    args: tuple[str, ...]  # a name for each conversion of ``fmt``, in order
    shape: Shape
    source: str  # release, file, function
    walk: str | None = None  # the walk family of STEP/LABELS/WALK_START/WALK_END/RSVD_SET lines
    table: str = "host"  # which entry format: "host" (the KVM host's), "guest", "linux", or a format name
    required: tuple[str, ...] = ()  # conversions a trimmed line must still have (default: all)
    patterns: dict[str, str] = field(default_factory=dict)  # regexes for %s conversions, by name
    first_level: int | None = None  # STEP lines that print no level: the level of the first step
    claim: str | None = None  # CLAIM: which check of the kernel failed (a key of spte.logs.reader.CLAIMS)
    notice: str | None = None  # NOTICE: the annotation of the line
    label_level: bool = False  # STEP lines: the label (Xen's L4 .. L1) is the level (``first_level``)
    needs_walk: bool = False  # read only as the next line of an open walk of its family (a needle common in prose)
    after_needle: bool = field(init=False, repr=False, compare=False)  # a tracepoint: fmt follows "event:"
    strict: bool = field(init=False, repr=False, compare=False)  # a needle hit that does not parse is an error
    offset: int = field(init=False, repr=False, compare=False)  # where fmt starts, from the needle
    info_args: tuple[str, ...] = field(init=False, repr=False, compare=False)  # printed args that are not values

    def __post_init__(self) -> None:
        # Tracepoints print "event: <TP_printk text>"; printk lines are matched from the needle on.
        after = self.needle == self.name + ":" and not self.fmt.startswith(self.needle)
        object.__setattr__(self, "after_needle", after)
        # A line that has a tracepoint's name or a long needle but does not parse is an error, not prose.
        object.__setattr__(self, "strict", after or len(self.needle) >= 12)
        object.__setattr__(self, "offset", len(self.needle) if after else 0)
        object.__setattr__(self, "info_args", tuple(a for a in self.args if a not in VALUE_ARGS))

    # Compiled on first use: a run meets few of the printouts (and a short one pays for none).
    @cached_property
    def _compiled(self) -> tuple[re.Pattern[bytes], tuple[re.Pattern[bytes], ...], tuple[str | None, ...]]:
        return compile_printout(self)

    @property
    def regex(self) -> re.Pattern[bytes]:
        """The line regex (from the needle on; see :func:`compile_printout`)."""
        return self._compiled[0]

    @property
    def stages(self) -> tuple[re.Pattern[bytes], ...]:
        return self._compiled[1]

    @property
    def stage_names(self) -> tuple[str | None, ...]:
        return self._compiled[2]

    @property
    def needle_bytes(self) -> bytes:
        return self.needle.encode()


HEX = r"[0-9a-fA-F]+"
VALUE_NAMES = frozenset({"spte", "pte", "old", "new"})
# Conversions that are values (or their level/mask/label) rather than information about them.
VALUE_ARGS = VALUE_NAMES | {"level", "rsvd", "rsvd_set", "eptp", "ncr3", "swp", "which", "value", "PGD", "P4D", "PUD",
                            "PMD", "PTE", "pgd", "p4d", "pud", "pmd", "pdpt", "pde"}
_CONVERSION = re.compile(r"%(?P<flags>[-#0]*)(?P<width>\*|\d*)(?P<len>ll|l|L|h|hh)?(?P<conv>[xXdusp%c])")
_PATTERNS = {"x": HEX, "X": HEX, "d": r"-?\d+", "u": r"\d+", "p": r"\S+", "c": r"."}


def _tokens(p: Printout) -> list[tuple[str, str | None]]:
    """``fmt`` as (regex text, conversion name or None for literals) pieces."""
    out: list[tuple[str, str | None]] = []
    names = iter(p.args)
    pos = 0
    for m in _CONVERSION.finditer(p.fmt):
        out += _literal(p.fmt[pos:m.start()])
        pos = m.end()
        conv = m["conv"]
        if conv == "%":
            out.append(("%", None))
            continue
        name = next(names)
        if conv == "s":
            body = p.patterns[name]
        elif conv in "xX" and "#" in m["flags"]:
            body = r"(?:0x)?" + HEX  # %#llx prints 0x except for zero
        else:
            body = _PATTERNS[conv]
        out.append((f"(?P<{name}>{body})", name))
    out += _literal(p.fmt[pos:])
    rest = list(names)
    assert not rest, f"{p.name}: more names than conversions: {rest}"
    return out


def _literal(text: str) -> list[tuple[str, str | None]]:
    """A literal run; a space matches any run of blanks (trace-cmd pads, consoles re-wrap)."""
    out: list[tuple[str, str | None]] = []
    for i, word in enumerate(text.split(" ")):
        if i:
            out.append((r"[ \t]+", None))
        if word:
            out.append((re.escape(word), None))
    return out


def compile_printout(p: Printout) -> tuple[re.Pattern[bytes], tuple[re.Pattern[bytes], ...], tuple[str | None, ...]]:
    """(the line regex, one regex per prefix of the format for diagnosis, the conversion each prefix ends at)."""
    toks = _tokens(p)
    required = set(p.required or p.args)
    last = max((i for i, (_, name) in enumerate(toks) if name in required), default=len(toks) - 1)
    head = "".join(t for t, _ in toks[:last + 1])
    tail = ""
    for t, _ in reversed(toks[last + 1:]):  # everything after the last needed conversion may be cut off
        tail = f"(?:{t}{tail})?"
    regex = re.compile(("[ \t]*" + head + tail).encode())
    stages, names = [], []
    for i, (_, name) in enumerate(toks):
        if name is not None:
            stages.append(re.compile(("[ \t]*" + "".join(t for t, _ in toks[:i + 1])).encode()))
            names.append(name)
    return regex, tuple(stages), tuple(names)


def diagnose(p: Printout, text: bytes) -> str:
    """Why ``text`` (from the needle on) does not match ``p``: the first conversion it lacks."""
    previous = "the event name" if p.after_needle else "the start"
    for stage, name in zip(p.stages, p.stage_names, strict=True):
        m = stage.match(text)
        if m is None:
            return f"{p.name}: no {name} after {previous}"
        if name in VALUE_NAMES:
            previous = "the value"
        elif name not in p.patterns:  # flag letters such as (rwxu) are not worth naming
            previous = f"the {name}"
    return f"{p.name}: the line does not match the format {p.fmt!r}"


TRACE = "Linux 5.4-7.1 arch/x86/kvm/mmu/mmutrace.h (arch/x86/kvm/mmutrace.h before 5.8)"
PFERR = r"[A-Z|]*"
PRINTOUTS: tuple[Printout, ...] = (
    # -- KVM tracepoints (TRACE_SYSTEM kvmmmu) -----------------------------------------------
    Printout("kvm_mmu_set_spte", "kvm", "kvm_mmu_set_spte:", "gfn %llx spte %llx (%s%s%s%s) level %d at %llx",
             ("gfn", "spte", "r", "w", "x", "u", "level", "sptep"), Shape.ENTRY,
             TRACE + " TRACE_EVENT(kvm_mmu_set_spte); u is empty when shadow_user_mask is 0 (6.x, EPT)",
             required=("spte", "level"), patterns={"r": "[r-]", "w": "[w-]", "x": "[x-]", "u": "[u-]?"}),
    Printout("kvm_mmu_split_huge_page", "kvm", "kvm_mmu_split_huge_page:", "gfn %llx spte %llx level %d errno %d",
             ("gfn", "spte", "level", "errno"), Shape.ENTRY, TRACE + " TRACE_EVENT(kvm_mmu_split_huge_page), 6.0+",
             required=("spte", "level")),
    Printout("kvm_tdp_mmu_spte_changed", "kvm", "kvm_tdp_mmu_spte_changed:",
             "as id %d gfn %llx level %d old_spte %llx new_spte %llx", ("as_id", "gfn", "level", "old", "new"),
             Shape.TRANSITION, TRACE + " TRACE_EVENT(kvm_tdp_mmu_spte_changed), 5.10+"),
    Printout("fast_page_fault", "kvm", "fast_page_fault:",
             "vcpu %d gva %llx error_code %s sptep %p old %#llx new %llx spurious %d fixed %d",
             ("vcpu", "gva", "error_code", "sptep", "old", "new", "spurious", "fixed"), Shape.TRANSITION,
             TRACE + " TRACE_EVENT(fast_page_fault); 'gva %lx' before 5.6 matches too; no level is printed",
             required=("old", "new"), patterns={"error_code": PFERR}),
    Printout("check_mmio_spte", "kvm", "check_mmio_spte:", "spte %llx kvm_gen %x spte-gen %x valid %d",
             ("spte", "kvm_gen", "spte_gen", "valid"), Shape.ENTRY,
             TRACE + " TRACE_EVENT(check_mmio_spte); no level is printed (an MMIO SPTE is a last-level SPTE)",
             required=("spte",)),
    Printout("kvm_mmu_spte_requested", "kvm", "kvm_mmu_spte_requested:", "gfn %llx pfn %llx level %d",
             ("gfn", "pfn", "level"), Shape.NONE, TRACE + " TRACE_EVENT(kvm_mmu_spte_requested): a pfn, no SPTE"),
    Printout("mark_mmio_spte", "kvm", "mark_mmio_spte:", "sptep:%p gfn %llx access %x gen %x",
             ("sptep", "gfn", "access", "gen"), Shape.NONE, TRACE + " TRACE_EVENT(mark_mmio_spte): no SPTE value"),
    Printout("handle_mmio_page_fault", "kvm", "handle_mmio_page_fault:", "addr:%llx gfn %llx access %x",
             ("addr", "gfn", "access"), Shape.NONE, TRACE + " TRACE_EVENT(handle_mmio_page_fault)"),
    Printout("kvm_mmu_get_page", "kvm", "kvm_mmu_get_page:", "sp %s", ("page",), Shape.NONE,
             TRACE + " KVM_MMU_PAGE_PRINTK", patterns={"page": ".*"}),
    Printout("kvm_mmu_sync_page", "kvm", "kvm_mmu_sync_page:", "sp %s", ("page",), Shape.NONE,
             TRACE + " KVM_MMU_PAGE_PRINTK", patterns={"page": ".*"}),
    Printout("kvm_mmu_unsync_page", "kvm", "kvm_mmu_unsync_page:", "sp %s", ("page",), Shape.NONE,
             TRACE + " KVM_MMU_PAGE_PRINTK", patterns={"page": ".*"}),
    Printout("kvm_mmu_prepare_zap_page", "kvm", "kvm_mmu_prepare_zap_page:", "sp %s", ("page",), Shape.NONE,
             TRACE + " KVM_MMU_PAGE_PRINTK", patterns={"page": ".*"}),
    Printout("kvm_mmu_zap_all_fast", "kvm", "kvm_mmu_zap_all_fast:", "kvm-mmu-valid-gen %u used_pages %x",
             ("gen", "used_pages"), Shape.NONE, TRACE + " TRACE_EVENT(kvm_mmu_zap_all_fast), 5.3+"),
    Printout("kvm_mmu_set_accessed_bit", "guest", "kvm_mmu_set_accessed_bit:", "gpa %llx", ("gpa",), Shape.NONE,
             TRACE + " kvm_mmu_set_bit_class: the guest-physical address of a guest PTE"),
    Printout("kvm_mmu_set_dirty_bit", "guest", "kvm_mmu_set_dirty_bit:", "gpa %llx", ("gpa",), Shape.NONE,
             TRACE + " kvm_mmu_set_bit_class"),
    # Guest walks (paging_tmpl.h FNAME(walk_addr_generic)): one walk per kvm_mmu_pagetable_walk.
    Printout("kvm_mmu_pagetable_walk", "guest", "kvm_mmu_pagetable_walk:", "addr %llx pferr %x %s",
             ("addr", "pferr", "flags"), Shape.WALK_START, TRACE + " TRACE_EVENT(kvm_mmu_pagetable_walk)",
             walk="guest", required=("addr",), patterns={"flags": PFERR}),
    Printout("kvm_mmu_paging_element", "guest", "kvm_mmu_paging_element:", "pte %llx level %u", ("pte", "level"),
             Shape.STEP, TRACE + " TRACE_EVENT(kvm_mmu_paging_element)", walk="guest", table="guest"),
    Printout("kvm_mmu_walker_error", "guest", "kvm_mmu_walker_error:", "pferr %x %s", ("pferr", "flags"),
             Shape.WALK_END, TRACE + " TRACE_EVENT(kvm_mmu_walker_error)", walk="guest", required=("pferr",),
             patterns={"flags": PFERR}),
    # -- KVM printks ------------------------------------------------------------------------
    Printout("get_mmio_spte", "kvm", "detect reserved bits on spte, addr 0x",
             "detect reserved bits on spte, addr 0x%llx, dump hierarchy:", ("addr",), Shape.WALK_START,
             "Linux 4.x-5.11 arch/x86/kvm/mmu/mmu.c walk_shadow_page_get_mmio_spte()/get_mmio_spte()",
             walk="kvm_mmio"),
    Printout("get_mmio_spte", "kvm", "reserved bits set on MMU-present spte, addr 0x",
             "reserved bits set on MMU-present spte, addr 0x%llx, hierarchy:", ("addr",), Shape.WALK_START,
             "Linux 5.12+ arch/x86/kvm/mmu/mmu.c get_mmio_spte()", walk="kvm_mmio"),
    Printout("get_mmio_spte", "kvm", "------ spte ", "------ spte 0x%llx level %d.", ("spte", "level"), Shape.STEP,
             "Linux 4.x-5.11 arch/x86/kvm/mmu/mmu.c get_mmio_spte()", walk="kvm_mmio"),
    Printout("get_mmio_spte", "kvm", "------ spte ", "------ spte = 0x%llx level = %d, rsvd bits = 0x%llx",
             ("spte", "level", "rsvd"), Shape.STEP, "Linux 5.12+ arch/x86/kvm/mmu/mmu.c get_mmio_spte()",
             walk="kvm_mmio", required=("spte", "level")),
    Printout("make_spte", "kvm", "spte = 0x", "spte = 0x%llx, level = %d, rsvd bits = 0x%llx",
             ("spte", "level", "rsvd"), Shape.ENTRY,
             "Linux 5.11+ arch/x86/kvm/mmu/spte.c make_spte() WARN_ONCE(is_rsvd_spte(...))",
             required=("spte", "level")),
    Printout("ept_misconfig_inspect_spte", "kvm", "EPT: Misconfiguration.", "EPT: Misconfiguration.", (),
             Shape.WALK_START, "Linux 3.x-4.x arch/x86/kvm/vmx.c handle_ept_misconfig()", walk="ept_misconfig"),
    Printout("ept_misconfig_inspect_spte", "kvm", "ept_misconfig_inspect_spte:",
             "ept_misconfig_inspect_spte: spte 0x%llx level %d", ("spte", "level"), Shape.STEP,
             "Linux 3.x-4.x arch/x86/kvm/vmx.c ept_misconfig_inspect_spte()", walk="ept_misconfig", table="ept"),
    Printout("ept_misconfig_inspect_spte", "kvm", "ept_misconfig_inspect_spte:",
             "ept_misconfig_inspect_spte: rsvd_bits = 0x%llx", ("rsvd_set",), Shape.RSVD_SET,
             "Linux 3.x-4.x arch/x86/kvm/vmx.c ept_misconfig_inspect_spte(): spte & ept_rsvd_mask()",
             walk="ept_misconfig", table="ept"),
    # handle_changed_spte() prints its verdict first, wrapped over several lines, and the
    # transition last: the verdict is checked against the values (spte.logs.reader.check_claim).
    Printout("handle_changed_spte", "kvm", "Invalid SPTE change: cannot replace a present leaf",
             "Invalid SPTE change: cannot replace a present leaf", (), Shape.CLAIM,
             "Linux 5.10+ arch/x86/kvm/mmu/tdp_mmu.c handle_changed_spte(): pr_err() before BUG() when "
             "was_leaf && is_leaf && pfn_changed", claim="leaf_pfn_changed"),
    Printout("handle_changed_spte", "kvm", "Unexpected SPTE change! Nonpresent SPTEs",
             "Unexpected SPTE change! Nonpresent SPTEs", (), Shape.CLAIM,
             "Linux 5.10+ arch/x86/kvm/mmu/tdp_mmu.c handle_changed_spte(): pr_err() after WARN_ON(!is_mmio_spte(old) "
             "&& !is_mmio_spte(new) && new is not REMOVED_SPTE/FROZEN_SPTE) for two non-present SPTEs",
             claim="nonpresent_changed"),
    Printout("handle_changed_spte", "kvm", "as_id: ", "as_id: %d gfn: %llx old_spte: %llx new_spte: %llx level: %d",
             ("as_id", "gfn", "old", "new", "level"), Shape.TRANSITION,
             "Linux 5.10+ arch/x86/kvm/mmu/tdp_mmu.c handle_changed_spte(): 'Invalid SPTE change' and "
             "'Unexpected SPTE change' pr_err()s"),
    Printout("dump_vmcs", "kvm", "EPT pointer = 0x", "EPT pointer = 0x%016llx", ("eptp",), Shape.REGISTER,
             "Linux arch/x86/kvm/vmx/vmx.c dump_vmcs(); Xen xen/arch/x86/hvm/vmx/vmcs.c vmcs_dump_vcpu()",
             table="eptp"),
    Printout("dump_vmcb", "kvm", "nested_cr3:", "nested_cr3: %016llx", ("ncr3",), Shape.REGISTER,
             "Linux arch/x86/kvm/svm/svm.c dump_vmcb(): pr_err(\"%-20s%016llx\\n\", \"nested_cr3:\", ...)",
             table="ncr3"),
    # -- Linux mm ------------------------------------------------------------------------------
    Printout("dump_pagetable", "linux", "PGD ", "PGD %lx P4D %lx PUD %lx PMD %lx PTE %lx",
             ("PGD", "P4D", "PUD", "PMD", "PTE"), Shape.LABELS,
             "Linux 4.12+ arch/x86/mm/fault.c dump_pagetable() (x86-64; pr_cont per level)",
             walk="linux", table="linux", required=("PGD",)),
    Printout("dump_pagetable", "linux", "PGD ", "PGD %lx PUD %lx PMD %lx PTE %lx", ("PGD", "PUD", "PMD", "PTE"),
             Shape.LABELS, "Linux 2.6.25-4.11 arch/x86/mm/fault.c dump_pagetable() (x86-64, no P4D)",
             walk="linux", table="linux", required=("PGD",)),
    Printout("dump_pagetable", "linux", "*pdpt = ", "*pdpt = %016Lx *pde = %016Lx *pte = %016Lx",
             ("pdpt", "pde", "pte"), Shape.LABELS, "Linux arch/x86/mm/fault.c dump_pagetable() (32-bit, PAE)",
             walk="linux32", table="pae", required=("pdpt",)),
    Printout("dump_pagetable", "linux", "*pde = ", "*pde = %0*Lx *pte = %0*Lx", ("pde", "pte"), Shape.LABELS,
             "Linux arch/x86/mm/fault.c dump_pagetable() (32-bit; before 2.6.28 *pte on a line of its own)",
             walk="linux32", table="x86-32", required=("pde",)),
    Printout("dump_pagetable", "linux", "*pte = ", "*pte = %0*Lx", ("pte",), Shape.LABELS,
             "Linux 2.6 arch/i386/mm/fault.c do_page_fault(): printk(KERN_ALERT \"*pte = %08lx\\n\")",
             walk="linux32", table="x86-32"),
    Printout("print_bad_pte", "linux", "Bad page map in process ", "Bad page map in process %s  pte:%08llx pmd:%08llx",
             ("comm", "pte", "pmd"), Shape.LABELS, "Linux 2.6.27-6.16 mm/memory.c print_bad_pte()",
             walk="linux_bad", table="linux", patterns={"comm": ".+?"}),
    Printout("print_bad_page_map", "linux", "Bad page map in process ", "Bad page map in process %s  %s:%08llx",
             ("comm", "which", "value"), Shape.LABELS, "Linux 6.17+ mm/memory.c print_bad_page_map()",
             walk="linux_bad", table="linux", patterns={"comm": ".+?", "which": "pte|pmd|pud"}),
    Printout("print_bad_page_map", "linux", "pgd:", "pgd:%08llx p4d:%08llx pud:%08llx pmd:%08llx",
             ("pgd", "p4d", "pud", "pmd"), Shape.LABELS,
             "Linux 6.17+ mm/memory.c __print_bad_page_map_pgtable()", walk="linux_bad", table="linux",
             required=("pgd",)),
    Printout("swap_entry", "linux", "Bad swap file entry ", "Bad swap file entry %08lx", ("swp",), Shape.SWAP,
             "Linux mm/swapfile.c: pr_err(\"%s: %s%08lx\\n\", __func__, Bad_file, entry.val)", table="swp"),
    Printout("page_table_check", "linux", "kernel BUG at mm/page_table_check.c:",
             "kernel BUG at mm/page_table_check.c:%d!", ("line",), Shape.NOTICE,
             "Linux 5.17+ mm/page_table_check.c BUG_ON(): no entry value is printed",
             notice="page_table_check: a page's map counts broke the check's rules; the BUG prints no entry value. "
                    "The RIP (pc) line names the check: page_table_check_set (mapping: anon and file at once, or a "
                    "writable anon page mapped twice), page_table_check_clear (unmapping more often than mapped), "
                    "__page_table_check_zero (freeing a page that is still mapped)"),
    Printout("page_table_check", "linux", "at mm/page_table_check.c:", "at mm/page_table_check.c:%d", ("line",),
             Shape.NOTICE, "Linux 6.x mm/page_table_check.c WARN_ON_ONCE()s, named by the WARNING line",
             notice="page_table_check: a WARN in the page-table check: page_table_check_pte_flags()/_pmd_flags() "
                    "warn on a userfaultfd write-protected entry that is writable (or a uffd-wp swap entry of a "
                    "writable migration or device entry); the WARNING prints no entry value"),
    # -- Xen ---------------------------------------------------------------------------------
    Printout("show_page_walk", "xen", "Pagetable walk from ", "Pagetable walk from %016lx:", ("addr",),
             Shape.WALK_START, "Xen xen/arch/x86/x86_64/traps.c show_page_walk()", walk="xen"),
    *(Printout("show_page_walk", "xen", f"L{n}[0x", f"L{n}[0x%03lx] = %016lx %016lx%s", ("index", "pte", "pfn", "pse"),
               Shape.STEP, "Xen xen/arch/x86/x86_64/traps.c show_page_walk(): l{n}e_get_intpte, M2P pfn",
               walk="xen", table="x86-64", required=("index", "pte"), first_level=n, label_level=True,
               patterns={"pse": r" \(PSE\)"}) for n in (4, 3, 2, 1)),
    # Xen 3.0-3.1 printed no index (" L3 = %"PRIpte" %08lx" on x86_32, one blank deeper per
    # level): "L2 = " is common prose, so such a line is read only right below its walk's header
    # or previous step.
    *(Printout("show_page_walk", "xen", f"L{n} = ", f"L{n} = %lx %lx%s", ("pte", "pfn", "pse"), Shape.STEP,
               "Xen 3.0-3.1 xen/arch/x86/x86_32/traps.c (and x86_64) show_page_walk(): "
               f"printk(\"{' ' * (5 - n)}L{n} = %\"PRIpte\" %08lx\")",
               walk="xen", table="x86-64", required=("pte",), first_level=n, label_level=True, needs_walk=True,
               patterns={"pse": r" ?\(PSE\)"}) for n in (4, 3, 2, 1)),
    Printout("ept_walk_table", "xen", "Walking EPT tables for GFN ", "Walking EPT tables for GFN %lx:", ("gfn",),
             Shape.WALK_START, "Xen 4.7+ xen/arch/x86/mm/p2m-ept.c ept_walk_table()", walk="xen_ept"),
    Printout("ept_walk_table", "xen", "Walking EPT tables for domain ", "Walking EPT tables for domain %d gfn %lx",
             ("domain", "gfn"), Shape.WALK_START, "Xen 4.0-4.6 xen/arch/x86/mm/p2m-ept.c ept_walk_table()",
             walk="xen_ept"),
    Printout("ept_walk_table", "xen", "epte ", "epte %llx", ("pte",), Shape.STEP,
             "Xen xen/arch/x86/mm/p2m-ept.c ept_walk_table(): one ' epte %\"PRIx64\"' per level from ept.wl (3)",
             walk="xen_ept", table="ept", first_level=4),
)
BY_NAME = {p.name: p for p in reversed(PRINTOUTS)}  # the first declaration of a name wins
NEEDLES: dict[bytes, tuple[Printout, ...]] = {}
for _p in PRINTOUTS:
    NEEDLES[_p.needle_bytes] = (*NEEDLES.get(_p.needle_bytes, ()), _p)
EVENTS = tuple(dict.fromkeys(p.name for p in PRINTOUTS))
# Levels a label of a Linux walk names; "PGD" is level 5 only under 5-level paging (unfolded P4D).
LABEL_LEVELS = {"PGD": 4, "P4D": 4, "PUD": 3, "PMD": 2, "PTE": 1, "pgd": 4, "p4d": 4, "pud": 3, "pmd": 2, "pte": 1,
                "pdpt": 3, "pde": 2}
