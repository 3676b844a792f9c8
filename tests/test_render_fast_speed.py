"""The owner's suffix in ``decode --kvm ... --line``'s block loops (issue 14), against the slow
reference, byte for byte; never timed.

The block loops look a KVM reading up in the owner's memo (:func:`spte.metadata.owner.pattern_lookup`)
instead of calling it, and keep the suffix in the pattern memo's text when it reads no address
bit.  The reference here is the object path: the entry's line written from ``decode``/``fields``/
``problems`` (``tests.test_perf_paths.reference_line``) plus ``reading_suffix`` of the profile's own
``read`` of each value, one value at a time, no memo.  The values: uniformly random words, SPTEs
as KVM writes them with random pfns, MMIO SPTEs that share every bit but their gfn, not-present
values with and without other bits, reserved bits above MAXPHYADDR, large pages and the exact
values (0, SHADOW_NONPRESENT_VALUE, the frozen value); each in blocks shaped so that every loop
(random words, patterns that recur, values that recur) renders them.
"""

from __future__ import annotations

import argparse
import random

import pytest

from spte import Platform
from spte.cli.common import resolve
from spte.cli.decode import _hidden, _write, register
from spte.kvm import profile
from spte.metadata.owner import Owner, pattern_lookup, patterns_of
from spte.render.fast import BLOCK_TABLES, FastDecoder
from spte.render.owner import owner_suffix, owner_suffix_lookup, reading_suffix
from tests.test_perf_paths import reference_line

# (the decode command line's owner and platform options, level)
CASES = [
    (["--kvm", "6.19:ept-ad"], 1),
    (["--kvm", "6.19:ept-ad"], 2),  # the PS bit: the large-page form takes the per-value path
    (["--kvm", "6.19:ept-ad", "-M", "52"], 1),
    (["--kvm", "6.19:shadow", "-f", "x86-64"], 1),
    (["--kvm", "6.19:shadow", "-f", "x86-64"], 2),
    (["--kvm", "6.1:npt"], 1),
    (["--kvm", "5.8:ept-ad"], 1),
    (["--kvm", "5.13:ept-noad", "-M", "40"], 1),
    (["--kvm", "6.19:npt", "--c-bit", "47"], 1),  # an SME host: the MMIO test needs a match bit, no lookup
    (["--kvm", "5.4:shadow", "-f", "x86-64", "--c-bit", "47"], 1),
]


def _args(options: list[str], level: int) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    register(p.add_subparsers())
    return p.parse_args(["decode", *options, "--line", "--level", str(level)])


def _decoder(options: list[str], level: int) -> tuple[FastDecoder, Owner, Platform, str]:
    """The decoder and owner ``spte decode OPTIONS --line`` makes (as decode.run does)."""
    args = _args(options, level)
    fmt, platform, prof = resolve(args)
    assert prof is not None
    return FastDecoder(fmt, level, platform, hide=_hidden(prof)), prof, platform, fmt


def _kvm_shaped(prof: Owner, rng: random.Random, n: int, width: int) -> list[int]:
    """SPTEs as KVM writes them (6.x EPT and shadow shapes), with random pfns, reserved bits,
    the PS bit, and MMIO SPTEs that differ only in their gfn."""
    seeds = [0x8600000000000B77, 0x8000000000000B75, 0x8750000000000A70, 0x8000000000000907, 0xA25, 0x8000000000000E67,
             0x607, 0x12300000FEB0022E, 0x0000000000000867, 0x8000000000000867]
    mmio = getattr(prof, "shadow_mmio_value", 0) or 0x30000000000000
    out = []
    for i in range(n):
        kind = i % 7
        if kind == 0:  # MMIO: one pattern, many gfns
            v = mmio | 0x123 << 52 | rng.getrandbits(20) << 12
        elif kind == 1:  # with reserved bits above MAXPHYADDR, or the PS bit
            v = rng.choice(seeds) | rng.getrandbits(30) << 12 | rng.choice([1 << 50, 1 << 7, 1 << 46 | 1 << 7])
        else:
            v = rng.choice(seeds) | rng.getrandbits(34) << 12
        out.append(v & ((1 << width) - 1))
    return out


def _exact(prof: Owner) -> list[int]:
    spec = getattr(prof, "spec", None)
    frozen = getattr(spec, "frozen_value", None) or 0
    return [0, getattr(prof, "SHADOW_NONPRESENT_VALUE", 0), frozen, 1 << 63, 0x80, 0x800]


def _reference(prof: Owner, level: int, platform: Platform, fmt: str, hide: int, v: int) -> str:
    names = getattr(prof, "value_name", None)
    return reference_line(v, fmt, level, platform, hide) + reading_suffix(prof.read(v, level), names)


@pytest.mark.parametrize(("options", "level"), CASES)
def test_block_loops_with_the_owner_suffix_are_the_object_path(options, level):
    fd, prof, platform, fmt = _decoder(options, level)
    hide = _hidden(prof)
    width = fd.width
    rng = random.Random(f"{options}{level}")
    mask = (1 << width) - 1
    random_words = [rng.getrandbits(width) for _ in range(2 * BLOCK_TABLES)]
    shaped = _kvm_shaped(prof, rng, 2 * BLOCK_TABLES, width)
    recurring = [rng.choice(shaped[:40] + _exact(prof)) & mask for _ in range(BLOCK_TABLES)]
    exact = [v & mask for v in _exact(prof)] * 20
    blocks = [random_words[:BLOCK_TABLES],  # before the tables: line + suffix per value
              random_words[BLOCK_TABLES:],  # the loop over pieces, the suffix looked up
              shaped[:BLOCK_TABLES], shaped[BLOCK_TABLES:],  # the pattern memo's loop (suffix joined or not)
              recurring, exact + shaped[:200],  # the loop over whole lines by value
              shaped[::-1], random_words[::-1]]  # again, every memo filled
    reference = {v: _reference(prof, level, platform, fmt, hide, v) for block in blocks for v in block}
    suffix, lookup = owner_suffix_lookup(prof, level)
    block_of = fd.line_block(suffix, lookup)
    for values in blocks:
        texts = [f"{v:x}".zfill(rng.randint(len(f"{v:x}"), width // 4)) for v in values]
        for tokens in (None, texts):
            assert block_of(values, tokens) == [reference[v] for v in values]


def test_mmio_sptes_are_never_memoised_by_their_pattern():
    """An MMIO SPTE's gfn is address bits: values that share every other bit each show their own
    (review rule of issue 14: never cache what depends on address bits)."""
    fd, prof, platform, fmt = _decoder(["--kvm", "6.19:ept-ad"], 1)
    suffix, lookup = owner_suffix_lookup(prof, 1)
    block_of = fd.line_block(suffix, lookup)
    rng = random.Random(19)
    mmio = 0x12300000FEB0022E  # 6.19 EPT MMIO SPTE, generation 0x123 (bench/inputs.py)
    # Mostly present leaves with few patterns (the pattern memo's loop), MMIO SPTEs among them.
    values = [(mmio | rng.getrandbits(22) << 12) if i % 3 == 0 else 0x8600000000000B77 | rng.getrandbits(34) << 12
              for i in range(3 * BLOCK_TABLES)]
    lines = [line for start in range(0, len(values), BLOCK_TABLES)
             for line in block_of(values[start:start + BLOCK_TABLES])]
    hide = _hidden(prof)
    for v, line in zip(values, lines, strict=True):
        assert line == _reference(prof, 1, platform, fmt, hide, v)
    gfns = {line.split("mmio_gfn=")[1].split()[0] for line in lines if "mmio_gfn=" in line}
    assert len(gfns) > BLOCK_TABLES // 2  # each MMIO SPTE its own gfn, not the first one's


def test_clear_bits_inside_the_address_are_read_per_value():
    """A host with fewer physical address bits (40) than the decoder shows (46): KVM never sets
    bits 45:40, so they decide the verdict, and the pattern memo (keyed without the address)
    must not keep a suffix that depends on them."""
    prof = profile("6.19", "ept-ad", maxphyaddr=40)
    platform = Platform(maxphyaddr=46)
    fd = FastDecoder("ept", 1, platform, hide=_hidden(prof))
    suffix, lookup = owner_suffix_lookup(prof, 1)
    assert lookup is not None
    block_of = fd.line_block(suffix, lookup)
    rng = random.Random(40)
    values = [0x8600000000000B77 | rng.getrandbits(28) << 12 | (1 << 42 if i % 2 else 0)
              for i in range(4 * BLOCK_TABLES)]
    got = [line for start in range(0, len(values), BLOCK_TABLES)
           for line in block_of(values[start:start + BLOCK_TABLES])]
    hide = _hidden(prof)
    assert got == [_reference(prof, 1, platform, "ept", hide, v) for v in values]
    assert sum(line.endswith("!implausible") for line in got) == len(values) // 2


@pytest.mark.parametrize(("options", "level"), CASES)
def test_pattern_lookup_answers_as_the_reading(options, level):
    """Where the memo answers (``get(v & mask)`` not None) its piece is the reading's suffix for
    every value; ``None`` only where the key needs a match bit (SME hosts)."""
    _, prof, _, _ = _decoder(options, level)
    patterns = patterns_of(prof, level)
    assert patterns is not None
    names = getattr(prof, "value_name", None)
    found = pattern_lookup(patterns, lambda kind, fields, plausible: (kind, dict(fields), plausible))
    assert (found is None) == (patterns.match is not None)
    suffix, lookup = owner_suffix_lookup(prof, level)
    assert (lookup is None) == (found is None)
    plain = owner_suffix(prof, level)
    rng = random.Random(level)
    values = [rng.getrandbits(64) for _ in range(1500)] + _kvm_shaped(prof, rng, 1500, 64) + _exact(prof)
    answered = 0
    for v in values:
        want = reading_suffix(prof.read(v, level), names)
        assert suffix(v) == plain(v) == want, hex(v)
        if lookup is not None:
            mask, get, _ = lookup
            e = get(v & mask)
            if e is not None:
                answered += 1
                assert (e[2] if v & e[0] else e[1]) == want, hex(v)
    if lookup is not None:
        assert answered > len(values) // 2  # the memo answers most values (MMIO and exact values: read)


def test_decode_write_with_an_owner_is_line_plus_suffix(capsys):
    """``decode --kvm 6.19:ept-ad --line``'s own loop (decode._write) over blocks of the reader's
    shape: the same text as the per-value renderer and the owner's reading."""
    args = _args(["--kvm", "6.19:ept-ad"], 1)
    fmt, platform, prof = resolve(args)
    assert prof is not None
    fd = FastDecoder(fmt, 1, platform, hide=_hidden(prof))
    rng = random.Random(3)
    values = [rng.getrandbits(64) for _ in range(BLOCK_TABLES)] + _kvm_shaped(prof, rng, 2 * BLOCK_TABLES, 64)
    blocks = iter([(values[s:s + 300], [f"{v:x}" for v in values[s:s + 300]]) for s in range(0, len(values), 300)])

    class Quiet:
        status = 0

    assert _write(args, fd, prof, blocks, Quiet()) == 0  # type: ignore[arg-type]
    hide = _hidden(prof)
    assert capsys.readouterr().out.splitlines() == [_reference(prof, 1, platform, fmt, hide, v) for v in values]
