"""The log reader's per-value readings (``Renderer.texter``, ``Renderer.entry_json_tail``) are
composed from tables (spte/logs/pieces.py, the owner's reading parts of spte/kvm/patterns.py);
every output must be byte-identical to the object path they replace (``reference_text``,
``reference_json_tail``: the entry object, the owner's full ``read`` and ``json.dumps``).
Compared on uniformly random words, KVM-shaped SPTEs, values that differ only in their
address bits (the memoised templates), every level of every format, for KVM profiles of
5.4 to 7.1 on shadow/EPT (A/D and not)/NPT hosts, PAE hosts, and Linux/Xen owners."""

from __future__ import annotations

import random
import tracemalloc
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.inputs import kvm_shaped, random_words
from spte.entry import CLASSES
from spte.kvm import profile
from spte.logs.context import Context
from spte.logs.pieces import TEMPLATES
from spte.logs.records import Record
from spte.logs.render import Renderer
from spte.owners import resolve
from tests.strategies import u64

VERSIONS = ("5.4", "5.10", "5.13", "6.1", "6.19", "7.1")
HOSTS: dict[str, dict[str, object]] = {
    "shadow-M48": {"flavour": "shadow", "maxphyaddr": 48},
    "ept-ad": {"flavour": "ept-ad"},
    "ept-noad-M39": {"flavour": "ept-noad", "maxphyaddr": 39},
    "npt-sme": {"flavour": "npt", "maxphyaddr": 48, "me_bit": 47},
    "npt-pae": {"flavour": "npt", "format": "pae", "maxphyaddr": 36},
    "shadow-pae": {"flavour": "shadow", "format": "pae", "maxphyaddr": 36},
}
SEEDS = (3, 17, 2026)


def _context(version: str, host: str) -> Context:
    kw = dict(HOSTS[host])
    flavour = str(kw.pop("flavour"))
    prof = profile(version, flavour, **kw)  # type: ignore[arg-type]
    return Context(host_format=prof.format, platform=prof.platform, kvm=prof,
                   guest_format="x86-32" if host == "shadow-pae" else "pae" if host == "npt-pae" else "x86-64",
                   linux=resolve("linux:6.12"), xen=resolve("xen:4.19:pv"))


def _values(seed: int, n: int) -> list[int]:
    """Random words, KVM-shaped SPTEs, and words with bits 63:52/11:0 only (the flag windows)."""
    rng = random.Random(seed)
    return (random_words(n, seed) + kvm_shaped(n, seed) + [rng.getrandbits(64) & 0xFFF0_0000_0000_0FFF
                                                            for _ in range(n // 2)]
            + [0, (1 << 64) - 1, 0x8600000001234B77, 0x12300000FEB0022E, 1 << 63, 0x5A0 | 1 << 63])


def _pfn_variants(values: list[int], seed: int) -> list[int]:
    """Each value again with other address bits (bits 47:12): what the memoised templates vary."""
    rng = random.Random(seed)
    return [v ^ rng.getrandbits(36) << 12 for v in values for _ in range(2)]


def _check(render: Renderer, fmt: str, level: int, owner: str, values: list[int]) -> None:
    text = render.texter(fmt, level, owner)
    width = CLASSES[fmt][level][0].WIDTH
    for v in values:
        v &= (1 << width) - 1
        rec = Record(1, "e", owner, v, fmt, level)
        assert text(v) == render.reference_text(rec), (owner, fmt, level, hex(v))
        assert (render.entry_json_tail(fmt, level, owner, v)
                == render.reference_json_tail(fmt, level, owner, v)), (owner, fmt, level, hex(v))


@pytest.mark.parametrize("host", sorted(HOSTS))
@pytest.mark.parametrize("version", VERSIONS)
def test_kvm_readings_are_the_object_paths(version: str, host: str) -> None:
    """Every level of the host's format, KVM's SPTEs, on a fixed list of seeds."""
    ctx = _context(version, host)
    render = Renderer(ctx)
    for seed in SEEDS[:1] if version not in ("5.13", "6.19") else SEEDS:
        values = _values(seed, 40)
        values += _pfn_variants(values[:60] + values[40:100], seed)
        for level in CLASSES[ctx.host_format]:
            _check(render, ctx.host_format, level, "kvm", values)


@pytest.mark.parametrize("host", sorted(HOSTS))
def test_templates_take_every_bit_but_the_address(host: str) -> None:
    """A present SPTE's annotation is a template in all but its pfn: values that share a
    template's bits but one read as themselves, whatever bit it is, in every class at every
    level.  Each base (present, no reserved bits: what a template is made of) is followed by
    three values that differ from it in its class's address bits only (the first admits its
    template, the others use it); so is each value with one bit of the base flipped."""
    ctx = _context("6.19", host)
    render = Renderer(ctx)
    platform = ctx.platform_for("kvm")
    rng = random.Random(7)
    for level, (small, large) in CLASSES[ctx.host_format].items():
        ps = small.layout(platform).page_size_mask if large is not None else 0
        for cls, size_bit in ((small, 0), (large, ps)):
            if cls is None:
                continue
            layout = cls.layout(platform)
            for base in [*kvm_shaped(4, level), 0x8600000001234B77]:
                v = (base & ((1 << cls.WIDTH) - 1) & ~layout.reserved_mask & ~ps) | layout.present_mask | size_bit
                values = []
                for one in [v, *(v ^ 1 << b for b in range(cls.WIDTH))]:
                    values += [one, *(one & ~layout.address_mask | rng.getrandbits(64) & layout.address_mask
                                      for _ in range(3))]
                _check(render, ctx.host_format, level, "kvm", values)


@pytest.mark.parametrize("host", ["shadow-M48", "ept-ad", "shadow-pae", "npt-pae"])
def test_guest_linux_and_xen_readings_are_the_object_paths(host: str) -> None:
    """Entries without an owner (a guest's walk) and entries Linux or Xen read, every level."""
    ctx = _context("6.19", host)
    render = Renderer(ctx)
    values = _values(5, 30)
    for owner, fmt in (("guest", ctx.guest_format), ("linux", ctx.linux_format), ("xen", "x86-64"),
                       ("xen", "ept")):
        for level in CLASSES[fmt]:
            _check(render, fmt, level, owner, values)


@given(st.lists(u64, min_size=1, max_size=20), st.sampled_from(sorted(HOSTS)), st.sampled_from(VERSIONS),
       st.integers(1, 5))
def test_any_value_reads_as_the_object_path(values: list[int], host: str, version: str, level: int) -> None:
    ctx = _context(version, host)
    levels = sorted(CLASSES[ctx.host_format])
    _check(Renderer(ctx), ctx.host_format, levels[(level - 1) % len(levels)], "kvm", values)


def test_a_value_over_the_format_width_takes_the_object_path() -> None:
    """A 33-bit value in a 32-bit format: whatever the object path says (here: its error)."""
    ctx = _context("6.19", "shadow-pae")
    render = Renderer(ctx)
    outcomes = []
    for tail in (render.entry_json_tail, render.reference_json_tail):
        try:
            outcomes.append(tail("x86-32", 1, "guest", 1 << 32 | 0x67))
        except ValueError as e:
            outcomes.append(str(e))
    assert outcomes[0] == outcomes[1]


def _growth(fn: Callable[[int], object], seed: int) -> int:
    """Bytes still allocated by 30,000 more new values after 100,000 (the whole-value memos are
    full by then, and the tables of bounded pieces all but full)."""
    first, more = random_words(100_000, seed), random_words(30_000, seed + 1)
    for v in first:
        fn(v)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for v in more:
            fn(v)
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_memory_stays_flat_on_values_that_never_repeat() -> None:
    """Every memo is bounded and never cleared: new values past the bounds keep nothing."""
    ctx = _context("6.19", "shadow-M48")
    render = Renderer(ctx)
    text = render.texter("x86-64", 1, "kvm")
    # (the tables of reason texts of 13 bits, 8192 slots, are still filling: a few hundred texts)
    # Templates are admitted on their second use: up to TEMPLATES hashes of keys used once are
    # remembered (a set, emptied when full: spte.memo.Memo), about 70 bytes each
    assert _growth(text, 1) < (256 << 10) + TEMPLATES * 70
    assert _growth(lambda v: render.entry_json_tail("x86-64", 1, "kvm", v), 3) < (256 << 10) + TEMPLATES * 70
