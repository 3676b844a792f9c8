"""A log annotation composed from bounded pieces of the value's own bits.

The annotation of one entry (``[kind] pfn=0x.. Class FLAGS words sw:names !problems``) is a
function of the value; random values (no two alike) must not each build an entry object and
ask the owner for a full reading.  Per entry class the text is composed from:

- bits 11:0: flags and words (4096 slots, filled on first use) and, from the full value,
  the problems other than reserved bits (the EPT misconfiguration rules read only R/W/X/XU
  and the memory type, all in bits 11:0: checked when the table is built);
- bits 63:52: flags and words (4096 slots);
- the non-address bits in between: one piece per pattern (bounded by their bit count);
- the address, formatted per value;
- reserved bits: one mask test (``!reserved_bits``, always the last problem);
- the owner's part: its kind and the names of its non-zero software fields
  (:func:`~spte.logs.context.brief_reader`); an MMIO SPTE's text is the owner's summary.

Whole texts are memoised by value up to :data:`MEMO` values (never cleared, so input that
never repeats costs one failed lookup).  ``tests/test_logs_fast.py`` compares every piece
with the entry objects.
"""

from __future__ import annotations

from collections.abc import Callable

from spte.bits import HIGH_SHIFT, LOW_BITS, LOW_MASK, MID_TABLE_BITS, field_pieces
from spte.entry import CLASSES, Entry, EptEntry
from spte.formats import ept
from spte.logs.context import Context, brief_reader, owned_ignored_mask, read_owner

MEMO = 1 << 15  # whole texts kept per (format, level, owner)
# (kind, text)
Text = tuple[str, str]


class ClassPieces:
    """The hardware part of the annotation of one entry class (bits an owner names hidden)."""

    def __init__(self, cls: type[Entry], ctx: Context, owner: str, hide: int) -> None:
        platform = ctx.platform_for(owner)
        layout = cls.layout(platform)
        self.cls, self.platform = cls, platform
        self.name = cls.__name__
        self.enums = cls.enum_names()
        self.present_mask = layout.present_mask
        self.reserved_mask = layout.reserved_mask
        self.address_mask = layout.address_mask
        width = (1 << cls.WIDTH) - 1
        self.keep = width & ~self.address_mask & ~hide
        fields = [f for f in layout.fields if f.mask & self.keep]
        self.low = [f for f in fields if f.hi < LOW_BITS]
        self.high = [f for f in fields if f.lo >= HIGH_SHIFT]
        self.mid = [f for f in fields if f not in self.low and f not in self.high]
        self.mid_mask = sum(f.mask for f in self.mid) & self.keep
        self.mid_table = self.mid_mask.bit_count() <= MID_TABLE_BITS
        self.high_shift = HIGH_SHIFT if cls.WIDTH > HIGH_SHIFT else cls.WIDTH
        self.low_words: list[tuple[str, str] | None] = [None] * (1 << LOW_BITS)
        self.low_problems: list[str | None] = [None] * (1 << LOW_BITS)
        self.high_words: list[tuple[str, str] | None] = [None] * (1 << max(cls.WIDTH - HIGH_SHIFT, 0))
        self.mid_words: dict[int, tuple[str, str]] = {0: ("", "")}
        # The problems other than reserved bits must be a function of bits 11:0, else they are
        # found per value: Entry.problems reads only presence and reserved bits; EPT's rules
        # read the fields they name (SDM "EPT Misconfigurations").
        rule_bits = 0
        if cls.problems is EptEntry.problems:
            names = {n for rule in ept.MISCONFIGURATIONS if cls.LEAF or not rule.leaf_only for n in rule.fields}
            rule_bits = sum(layout.by_name[n].mask for n in names if n in layout.by_name)
        elif cls.problems is not Entry.problems:
            rule_bits = -1
        self.low_rules = rule_bits >= 0 and not (rule_bits | self.present_mask) & ~LOW_MASK

    def low_piece(self, lo: int) -> tuple[str, str]:
        piece = self.low_words[lo]
        if piece is None:
            piece = self.low_words[lo] = field_pieces(self.low, lo, self.enums)
        return piece

    def high_piece(self, hi: int) -> tuple[str, str]:
        piece = self.high_words[hi]
        if piece is None:
            piece = self.high_words[hi] = field_pieces(self.high, hi << HIGH_SHIFT, self.enums)
        return piece

    def mid_piece(self, m: int) -> tuple[str, str]:
        piece = self.mid_words.get(m)
        if piece is None:
            piece = field_pieces(self.mid, m, self.enums)
            if self.mid_table:
                self.mid_words[m] = piece
        return piece

    def problems(self, v: int) -> str:
        """`` !kind`` for each problem of the present entry ``v``, in :meth:`Entry.problems` order."""
        if not self.low_rules:
            return "".join(f" !{p.kind}" for p in self.cls(v, self.platform).problems())
        lo = v & LOW_MASK
        text = self.low_problems[lo]
        if text is None:
            probe = self.cls(lo, self.platform)
            text = self.low_problems[lo] = "".join(f" !{p.kind}" for p in probe.problems()
                                                   if p.kind != "reserved_bits")
        return text + " !reserved_bits" if v & self.reserved_mask else text

    def flags(self, v: int) -> str:
        """``R|W|X MT=WB ...``: the flags and words of the shown bits, as ``field_words`` joins them."""
        s = v & self.keep
        lf, lw = self.low_piece(s & LOW_MASK)
        mf, mw = self.mid_piece(s & self.mid_mask) if s & self.mid_mask else ("", "")
        hf, hw = self.high_piece(s >> HIGH_SHIFT) if self.high and s >> HIGH_SHIFT else ("", "")
        flags = lf + mf + hf
        words = lw + mw + hw
        return flags[1:] + words if flags else words[1:]


def value_texter(ctx: Context, fmt: str, level: int, owner: str) -> Callable[[int], Text]:
    """``v`` -> (kind, annotation text) of an entry of ``fmt`` at ``level`` printed by ``owner``."""
    table_cls, large_cls = CLASSES[fmt][level]
    obj = ctx.owner_object(owner, fmt)
    platform = ctx.platform_for(owner)
    ps = table_cls.layout(platform).page_size_mask if large_cls else 0

    def pieces(cls: type[Entry]) -> ClassPieces:
        hide = owned_ignored_mask(obj, cls, platform) if obj is not None else 0
        return ClassPieces(cls, ctx, owner, hide)

    small = pieces(table_cls)
    large = pieces(large_cls) if large_cls is not None else small
    brief = brief_reader(obj, level) if obj is not None and obj is ctx.kvm else None
    memo: dict[int, Text] = {}

    def text(v: int) -> Text:
        hit = memo.get(v)
        if hit is not None:
            return hit
        cp = large if v & ps else small
        if obj is None:
            kind, head, sw = ("present" if v & cp.present_mask else "not_present"), "", ""
        else:
            if brief is not None:
                kind, names, _ = brief(v)
                if kind == "mmio":  # the kernel's reading of gfn, generation and access is what matters
                    out = (kind, f"[{kind}] {read_owner(obj, v, level).summary}")
                    if len(memo) < MEMO:
                        memo[v] = out
                    return out
            else:
                view = read_owner(obj, v, level)
                kind, names = view.kind, tuple(k for k, x in view.software.items() if x)
                if view.mmio:
                    return kind, f"[{kind}] {view.summary}"
                if view.software and not names:
                    names = ("",)
            head = f"[{kind}] "
            sw = " sw:" + ",".join(names) if names else ""
        if not v & cp.present_mask:
            out = (kind, f"{head}L{level} not present, bits {v:#x}{sw}")
        else:
            out = (kind, f"{head}pfn={(v & cp.address_mask) >> 12:#x} {cp.name} {cp.flags(v)}{sw}{cp.problems(v)}")
        if len(memo) < MEMO:
            memo[v] = out
        return out

    return text
