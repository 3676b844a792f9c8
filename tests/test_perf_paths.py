"""The fast paths (issue 14) against the object path, byte for byte; never timed.

The reference renderings below are written from the entry objects alone (``decode``,
``fields``/``field_words``, ``problems``), one value at a time and with no tables or memos:
the table-composed line/JSON, the pattern memo, the inlined batch loop and the owner-suffix
memo must all agree with them, including after the memos are full and for values that share
every non-address bit.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import spte
from spte import Platform, decode, entry_class
from spte.bits import Role, field_words
from spte.entry import CLASSES
from spte.kvm import profile
from spte.render.fast import BLOCK_TABLES, PATTERNS, FastDecoder
from spte.render.owner import owner_suffix, reading_suffix
from tests.strategies import u64

LEVELS = [(f, lv) for f, levels in CLASSES.items() for lv in levels]


def reference_line(v: int, fmt: str, level: int, platform: Platform, hide: int = 0) -> str:
    e = decode(v, fmt, level, platform)
    layout, cls = e.layout(platform), type(e)
    width = (1 << cls.WIDTH) - 1
    head = f"{v:#0{cls.WIDTH // 4 + 2}x} pfn={e.pfn:#x} {cls.__name__} "
    if not e.present:  # only what hardware reads then, and the rest as one raw value
        flags = field_words([f for f in layout.fields if f.read_not_present], v)[0]
        rest = v & ~(layout.present_mask | layout.not_present_read_mask) & width
        return head + ("|".join(flags) or "-") + (f" ignored={rest:#x}" if rest else "") + " (not present)"
    shown = v & ~(hide & layout.ignored_mask)
    flags, words = field_words([f for f in layout.fields if f.role is not Role.ADDRESS], shown, cls.enum_names())
    problems = [p.kind for p in e.problems()]
    return (head + ("|".join(flags) or "-") + "".join(" " + w for w in words)
            + (" !" + ",!".join(problems) if problems else ""))


def reference_json(v: int, fmt: str, level: int, platform: Platform) -> str:
    e = decode(v, fmt, level, platform)
    cls = type(e)
    doc = {"value": f"{v:#0{cls.WIDTH // 4 + 2}x}", "format": cls.FORMAT, "level": cls.LEVEL, "class": cls.__name__,
           "leaf": cls.LEAF, "page_size": (1 << cls.SPAN_SHIFT) if cls.LEAF else None, "span": 1 << cls.SPAN_SHIFT,
           "address": f"{e.address:#x}", "pfn": f"{e.pfn:#x}", "fields": e.fields(), "present": bool(e.present),
           "reserved_bits": f"{e.reserved_bits:#x}",
           "problems": [{"kind": p.kind, "bits": f"{p.bits:#x}", "message": p.message} for p in e.problems()]}
    return json.dumps(doc, separators=(",", ":"))


def platform_for(fmt: str, maxphyaddr: int) -> Platform:
    # An NPT host with SME: the C-bit splits the address (the middle is then formatted per value).
    return Platform(maxphyaddr=maxphyaddr, c_bit=maxphyaddr - 1 if fmt == "npt" and maxphyaddr < 52 else None)


@pytest.mark.parametrize(("fmt", "level"), LEVELS)
@settings(max_examples=40)
@given(values=st.lists(u64, min_size=1, max_size=30), maxphyaddr=st.sampled_from([32, 36, 46, 52]))
def test_line_and_json_are_the_object_path_byte_for_byte(fmt, level, values, maxphyaddr):
    platform = platform_for(fmt, maxphyaddr)
    width = (1 << entry_class(fmt, level).WIDTH) - 1
    fd = FastDecoder(fmt, level, platform)
    for v in values + [v ^ (0x5A5A5 << 12) for v in values]:  # the second half hits the memos with new pfns
        v &= width
        assert fd.line(v) == reference_line(v, fmt, level, platform)
        assert fd.json(v) == reference_json(v, fmt, level, platform)


@pytest.mark.parametrize("hide", [1 << 11, 1 << 57 | 1 << 58 | 1 << 11, 0x7FF0000000000800])
def test_owner_bits_are_left_out_of_the_hardware_words(hide):
    """KVM 6.19's MMU-present bit 11 and host/MMU-writable 57/58 (arch/x86/kvm/mmu/spte.h)."""
    rng = random.Random(hide)
    fd = FastDecoder("ept", 1, hide=hide)
    for _ in range(500):
        v = rng.getrandbits(64)
        assert fd.line(v) == reference_line(v, "ept", 1, Platform(), hide)


def test_the_pattern_memo_is_bounded_and_never_stale():
    """More distinct non-address patterns than the memo holds: it stops growing, and values
    that share a pattern but not a pfn still print their own pfn."""
    rng = random.Random(14)
    fd = FastDecoder("ept", 1)
    values = [rng.getrandbits(64) | 1 for _ in range(PATTERNS + 2000)]
    for v in values:
        assert fd.line(v) == reference_line(v, "ept", 1, Platform())
    assert len(fd.table.patterns) <= PATTERNS
    for v in values[:500]:
        w = v ^ (rng.getrandbits(40) << 12)  # same pattern, another address
        assert fd.line(w) == reference_line(w, "ept", 1, Platform())


@pytest.mark.parametrize(("fmt", "level"), [("ept", 1), ("ept", 2), ("x86-64", 3), ("x86-32", 2), ("npt", 1)])
def test_the_block_loop_is_the_per_value_renderer(fmt, level):
    platform = platform_for(fmt, 46)
    fd = FastDecoder(fmt, level, platform)
    rng = random.Random(7)
    width = entry_class(fmt, level).WIDTH
    values = [rng.getrandbits(width) for _ in range(300)]
    values += values  # the second time round the pattern memo answers
    got = fd.line_block()(values)
    assert got == [reference_line(v, fmt, level, platform) for v in values]


KVM = [("6.19", "ept-ad", 46), ("6.19", "shadow", 46), ("6.19", "shadow", 52), ("6.1", "npt", 46),
       ("5.8", "ept-ad", 46), ("5.8", "shadow", 46), ("5.13", "ept-noad", 40)]


@pytest.mark.parametrize(("version", "flavour", "maxphyaddr"), KVM)
@pytest.mark.parametrize("level", [1, 2])
def test_the_owner_suffix_memo_is_the_owner_reading(version, flavour, maxphyaddr, level):
    """The memo keys on the non-address bits; values sharing them (MMIO SPTEs with other gfns,
    empty SPTEs and pfn-only values) must still read as the owner reads each of them."""
    prof = profile(version, flavour, maxphyaddr=maxphyaddr)
    suffix = owner_suffix(prof, level)
    rng = random.Random(level)
    mmio = prof.shadow_mmio_value if prof.spec.mmu_present else 0x30000000000000
    seeds = [0, prof.SHADOW_NONPRESENT_VALUE, mmio, 0x8600000000000B77, 0x8000000000000B75, 0xA25, 0x8000000000000E67,
             0x12300000FEB0022E, 0x607, 0x8750000000000A70, prof.spec.frozen_value or 0]
    values = [s | (rng.getrandbits(40) << 12) * (i % 3 != 0) for i, s in enumerate(seeds * 30)]
    values += [rng.getrandbits(64) for _ in range(300)]
    for v in values:
        assert suffix(v) == reading_suffix(prof.read(v, level), prof.value_name), hex(v)


def test_spte_decode_value_loads_no_owner_allocator_or_bitstring():
    """A single decode imports what it uses (issue 14 point 3); names still resolve on use."""
    code = ("import sys, spte; e = spte.decode(0x8600000001234b77, 'ept', 1); "
            "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in ('spte', 'bitstring'))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert "bitstring" not in loaded and "spte.kvm" not in loaded and "spte.metadata.allocator" not in loaded
    assert "spte.walker" not in loaded and "spte.images" not in loaded
    for name in [*spte.__all__, "decode_many"]:
        assert getattr(spte, name) is not None
    with pytest.raises(AttributeError):
        spte.no_such_name  # noqa: B018


def test_bitstring_values_still_decode_once_bitstring_is_loaded():
    from bitstring import Bits

    assert spte.decode(Bits(uint=0x80, length=64), "x86-64", 1).pat == 1
    assert spte.EptPte(0x1234B77).to_bits() == Bits(uint=0x1234B77, length=64)


def _block_values(rng: random.Random, width: int, n: int) -> list[int]:
    """Random words, the same with bits 51:12 cleared (no address: every pattern repeats), KVM-
    shaped leaves with random pfns, not-present words with and without other bits."""
    mask = (1 << width) - 1
    out = []
    for i in range(n):
        kind = i % 5
        v = rng.getrandbits(width)
        if kind == 1:
            v &= 0xFFF0_0000_0000_0FFF
        elif kind == 2:
            v = rng.choice([0x8600000000000B77, 0x8000000000000B75, 0x800000000000067]) | rng.getrandbits(34) << 12
        elif kind == 3:
            v = rng.choice([0, 1 << 63, 1 << 40, (1 << 63) | rng.getrandbits(60) << 3, 0x8750000000000A70])
        out.append(v & mask)
    return out


@pytest.mark.parametrize(("fmt", "level"), LEVELS)
@pytest.mark.parametrize("maxphyaddr", [52, 46])
def test_block_loops_are_the_object_path_byte_for_byte(fmt, level, maxphyaddr):
    """line_block/json_block (whole tables, templates, the pattern memo, tokens' own text) over
    blocks long enough to build the tables, with and without the tokens, against the object path."""
    platform = platform_for(fmt, maxphyaddr)
    width = entry_class(fmt, level).WIDTH
    rng = random.Random(f"{fmt}{level}{maxphyaddr}")
    values = _block_values(rng, width, 3 * BLOCK_TABLES)
    # Then few patterns (as KVM writes them: the pattern memo's loop), some not present and repeated whole.
    seeds = [0x8600000000000B77, 0x8000000000000B75, 0x8750000000000A70, 0x8000000000000000, 0, 0x12300000FEB0022E,
             0x8000000000000907, 0x3, 0x80]
    values += [(rng.choice(seeds) | (rng.getrandbits(30) << 12 if i % 3 else 0)) & ((1 << width) - 1)
               for i in range(3 * BLOCK_TABLES)]
    lines = [reference_line(v, fmt, level, platform) for v in values]
    docs = [reference_json(v, fmt, level, platform) for v in values]
    # Leading zeros a token may carry (at most width/4 digits: stream_words' promise).
    texts = [f"{v:x}".zfill(rng.randint(len(f"{v:x}"), width // 4)) for v in values]
    for tokens in (None, texts):
        fd = FastDecoder(fmt, level, platform)
        line_block, json_block = fd.line_block(), fd.json_block()
        for start in range(0, len(values), BLOCK_TABLES):
            chunk = slice(start, start + BLOCK_TABLES)
            assert line_block(values[chunk], tokens and tokens[chunk]) == lines[chunk]
            assert json_block(values[chunk], tokens and tokens[chunk]) == docs[chunk]
        # Again: every table is filled now, and the sampled values recur: the loop over whole
        # lines by value, then the pattern memo's, for the second half's few patterns.
        assert line_block(values, tokens) == lines
        assert json_block(values, tokens) == docs
        half = len(values) // 2
        assert line_block(values[half:], tokens and tokens[half:]) == lines[half:]


@pytest.mark.parametrize("hide", [1 << 11, 1 << 57 | 1 << 58 | 1 << 11, 0x7FF0000000000800])
def test_block_loop_leaves_owner_bits_out(hide):
    rng = random.Random(hide)
    values = _block_values(rng, 64, 2 * BLOCK_TABLES)
    block = FastDecoder("ept", 1, hide=hide).line_block()
    assert block(values, [f"{v:x}" for v in values]) == [reference_line(v, "ept", 1, Platform(), hide)
                                                          for v in values]


def test_a_single_decode_loads_no_owner_kvm_json_or_shutil():
    """``spte decode VALUE`` (the readable view and --line) imports what it uses (issue 14 point 3)."""
    # Only what spte loads counts: an environment's site hooks (.pth files) may load json or shutil first.
    code = ("import sys; before = set(sys.modules); from spte.cli import main; sys.argv[1:] = {argv!r}; "
            "status = main(); print(' '.join(sorted(set(sys.modules) - before)), file=sys.stderr)")
    for argv in (["decode", "0x8600000001234b77"], ["decode", "--line", "0x8600000001234b77"]):
        p = subprocess.run([sys.executable, "-c", code.format(argv=argv)], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        loaded = set(p.stderr.split())
        for module in ("spte.kvm", "spte.render.owner", "spte.metadata.allocator", "json", "shutil", "bitstring"):
            assert module not in loaded, (argv, module)


@pytest.mark.parametrize(("fmt", "level"), LEVELS)
def test_block_tables_cover_every_low_and_high_pattern(fmt, level):
    """Every bits-11:0 pattern (and a spread of bits 63:52) through the whole tables, against the
    per-value renderers (themselves held to the object path above) and, for a sample, the objects."""
    platform = platform_for(fmt, 46)
    width = entry_class(fmt, level).WIDTH
    rng = random.Random(f"{fmt}{level}")
    values = [(lo | (rng.getrandbits(12) << 52) | (rng.getrandbits(30) << 12) * (lo % 2)) & ((1 << width) - 1)
              for lo in range(1 << 12)]
    reference = FastDecoder(fmt, level, platform)
    fd = FastDecoder(fmt, level, platform)
    assert fd.line_block()(values) == [reference.line(v) for v in values]
    assert fd.json_block()(values) == [reference.json(v) for v in values]
    for v in values[::257]:
        assert reference.line(v) == reference_line(v, fmt, level, platform)
        assert reference.json(v) == reference_json(v, fmt, level, platform)


def test_json_problem_lists_stay_bounded_on_values_that_never_repeat():
    """Reserved-bit problem lists hold the value's bits: the cache of their JSON stops growing
    (review finding: 200,000 random values at MAXPHYADDR 32 made 200,000 entries)."""
    from spte.render import fast

    d = FastDecoder("x86-64", 3, Platform(maxphyaddr=32))
    rng = random.Random(5)
    for _ in range(PATTERNS + 2000):
        d.json(rng.getrandbits(64) | 0x81)
    assert len(fast._PROBLEM_LISTS) <= PATTERNS
    v = 0x0000_00FF_0000_0081  # bits 39:32 above MAXPHYADDR 32: still reported after the cache is full
    assert '"kind":"reserved_bits","bits":"0xff00000000"' in d.json(v)
