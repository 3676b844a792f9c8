"""Human-readable renderings: the per-value field table and the 64-bit layout ruler."""

from __future__ import annotations

from spte.bits import Layout, Role, format_ranges, size_text
from spte.entry import Entry
from spte.metadata.states import bit_kinds

RESET = "\033[0m"
COLOURS = {Role.PERMISSION: "\033[1;32m", Role.FLAG: "\033[1;32m", Role.MEMORY_TYPE: "\033[1;36m",
           Role.ADDRESS: "\033[1;34m", Role.PROTECTION_KEY: "\033[1;36m", Role.IGNORED: "\033[2m",
           Role.RESERVED: "\033[1;31m", Role.SOFTWARE: "\033[1;35m"}


# Per field: its shift, mask, whether it is one bit (printed as a digit, else in hex), the text
# before its value and after it, the colour of its row when the value is not 0, and whether it
# is reserved (flagged when set in a present entry).
Row = tuple[int, int, bool, str, str, str, bool]
_ROWS: dict[tuple[int, frozenset[tuple[int, str]]], list[Row]] = {}


def _rows(layout: Layout, software: dict[int, str] | None) -> list[Row]:
    """The fixed text of every row, once per layout and software owners (the value goes between)."""
    # Layouts live as long as resolve()'s cache (the process): their id is a stable key.
    key = (id(layout), frozenset(software.items()) if software else frozenset())
    rows = _ROWS.get(key)
    if rows is None:
        rows = []
        for f in layout.fields:
            owners = sorted({software[b] for b in range(f.lo, f.hi + 1) if software and b in software})
            meaning = f.meaning + (f"  [software: {', '.join(owners)}]" if owners else "")
            rows.append((f.lo, f.max, f.width == 1, f"  {f.bits_text():<7} {f.name:<24} ",
                         f"  {f.role!s:<14} {meaning}", COLOURS[Role.SOFTWARE if owners else f.role],
                         f.role is Role.RESERVED))
        if len(_ROWS) < 1024:  # layouts x owner sets: a handful in practice
            _ROWS[key] = rows
    return rows


def entry_view(entry: Entry, colour: bool = False, software: dict[int, str] | None = None) -> str:
    """Every field of ``entry`` with its bits, value, role and meaning.

    ``software`` maps bit numbers to the software owner (e.g. a KVM tag name) shown in
    the last column.
    """
    layout = entry.layout(entry.platform)
    value, present = entry.value, entry.present
    head = (f"{entry.to_hex()}  {entry.SDM_NAME} ({type(entry).__name__}, {entry.FORMAT} level {entry.LEVEL})\n"
            f"  {'present' if present else 'not present'}, "
            f"{'leaf, maps' if entry.is_leaf else 'non-leaf, covers'} {size_text(entry.span_bytes)}, "
            f"address {entry.address:#x} (pfn {entry.pfn:#x})")
    rows = [f"  {'bits':<7} {'field':<24} {'value':>18}  {'role':<14} meaning"]
    append = rows.append
    for lo, mx, one_bit, before, after, paint_as, reserved in _rows(layout, software):
        v = (value >> lo) & mx
        text = f"{before}{v if one_bit else hex(v):>18}{after}"
        if not v:
            append(text)
            continue
        if reserved and present:
            text += "  <-- reserved bit set"
        append(f"{paint_as}{text}{RESET}" if colour else text)
    problems = entry.problems()
    tail = "  problems: " + ("none" if not problems else "; ".join(p.message for p in problems))
    return "\n".join([head, *rows, tail])


KIND_MARK = {"hardware": "H", "ignored": ".", "reserved": "r", "software": "S", "free": "_"}


def ruler(layout: Layout, title: str, free: int | None = None, software: dict[int, str] | None = None,
          owned: int | None = None) -> str:
    """A 64-bit (or 32-bit) ruler with one mark per bit, then the field list."""
    kinds = bit_kinds(layout, free, software, owned)
    hi = layout.width - 1
    tens = "".join(str(b // 10) if b % 10 == 0 or b == hi else " " for b in range(hi, -1, -1))
    ones = "".join(str(b % 10) for b in range(hi, -1, -1))
    marks = "".join(KIND_MARK[kinds[b]] for b in range(hi, -1, -1))
    legend = "  ".join(f"{m}={k}" for k, m in KIND_MARK.items())
    lines = [title, f"  {tens}", f"  {ones}", f"  {marks}", f"  {legend}"]
    if free is not None:
        lines.append(f"  free: {free.bit_count()} bits: {format_ranges(free)}")
    lines.append("")
    for f in reversed(layout.fields):
        owner = sorted({software[b] for b in range(f.lo, f.hi + 1) if software and b in software})
        extra = f"  [software: {', '.join(owner)}]" if owner else ""
        ctl = f" (role set by {f.control})" if f.control else ""
        lines.append(f"  {f.bits_text():>7}  {f.name:<24} {f.role!s:<14} {f.meaning}{ctl}{extra}")
    return "\n".join(lines)
