"""The walker: synthetic trees built with the project's encoder, and the real image's fixture.

Synthetic trees: every input address expected here is computed from the SDM's address
split (bits 47:39 / 38:30 / 29:21 / 20:12 for 4-level, 56:48 on top for 5-level; PAE 31:30
/ 29:21 / 20:12; 32-bit 31:22 / 21:12), written out below, not from the walker.

Real image (tests/data/real-image, see its README): the expected values are KVM's trace,
KVM's own counters, /proc/self/pagemap and the kernel's ptdump, none from this project.
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import spte.images
import spte.kvm
from spte.entry import entry_class
from spte.images import PhysicalMemory
from spte.platform import Platform
from spte.walker import NestedMemory, Visit, check, coalesce, translate, walk
from tests.conftest import golden, golden_text

# SDM vol. 3, 4.3-4.5 and 29.3.2: the lowest address bit each level translates.
SHIFT = {
    "ept": {5: 48, 4: 39, 3: 30, 2: 21, 1: 12}, "x86-64": {5: 48, 4: 39, 3: 30, 2: 21, 1: 12},
    "npt": {5: 48, 4: 39, 3: 30, 2: 21, 1: 12}, "pae": {3: 30, 2: 21, 1: 12}, "x86-32": {2: 22, 1: 12},
}
WIDTH = {"x86-32": 4}


class Image:
    """Table pages of a synthetic image, laid out as a raw image from ``base``."""

    def __init__(self, fmt: str, platform: Platform, base: int = 0x100000) -> None:
        self.fmt, self.platform, self.base, self.next = fmt, platform, base, base
        self.pages: dict[int, bytearray] = {}

    def table(self) -> int:
        a, self.next = self.next, self.next + 0x1000
        self.pages[a] = bytearray(4096)
        return a

    def put(self, table: int, index: int, value: int) -> None:
        w = WIDTH.get(self.fmt, 8)
        struct.pack_into("<I" if w == 4 else "<Q", self.pages[table], index * w, value)

    def entry(self, level: int, address: int, large: bool = False, **extra: int) -> int:
        """An entry made by the project's encoder: present and permissive unless ``extra`` says otherwise."""
        cls = entry_class(self.fmt, level, large)
        if self.fmt == "ept":
            f: dict[str, Any] = {"read": 1, "write": 1, "execute": 1}
            if cls.LEAF:
                f["memory_type"] = "WB"
        elif self.fmt == "pae" and level == 3:
            f = {"present": 1}
        else:
            f = {"present": 1, "writable": 1, "user": 1}
        if large:
            f["page_size"] = 1
        f.update(extra)
        return cls(0, self.platform, address=address, **f).value

    def raw(self) -> bytes:
        end = max(self.pages) + 0x1000
        out = bytearray(end - self.base)
        for a, data in self.pages.items():
            out[a - self.base:a - self.base + 0x1000] = data
        return bytes(out)

    def open(self, tmp_path: Path, cut: int = 0) -> PhysicalMemory:
        p = tmp_path / f"{self.fmt}.raw"
        data = self.raw()
        p.write_bytes(data[:len(data) - cut] if cut else data)
        return spte.images.open(str(p), base=self.base)


CASES = [("ept", 4), ("ept", 5), ("x86-64", 4), ("x86-64", 5), ("npt", 4), ("npt", 5), ("pae", 3), ("x86-32", 2)]


def build(fmt: str, top: int) -> tuple[Image, int, list[tuple[int, int, bool, bool, int | None]]]:
    """A tree with 4K leaves, a large leaf at every level that has one, and a not-present entry.

    Returns the image, the root and the expected (level, input, present, leaf, output) of every
    non-empty entry.
    """
    plat = Platform(maxphyaddr=46, la57=top == 5)
    img = Image(fmt, plat)
    root = img.table()
    expect: list[tuple[int, int, bool, bool, int | None]] = []
    table, base = root, 0
    idx = {5: 3, 4: 1, 3: 2 if fmt == "pae" else 5, 2: 6 if fmt != "x86-32" else 700, 1: 0}
    for level in range(top, 1, -1):
        nxt = img.table()
        img.put(table, idx[level], img.entry(level, nxt))
        base |= idx[level] << SHIFT[fmt][level]
        expect.append((level, base, True, False, nxt))
        if level in (2, 3) and not (fmt == "pae" and level == 3):
            # A large page (2M, 4M or 1G) in the slot after the table entry; 1 GiB-aligned output.
            img.put(table, idx[level] + 1, img.entry(level, 0x40000000, large=True))
            expect.append((level, base + (1 << SHIFT[fmt][level]), True, True, 0x40000000))
        table = nxt
    for i, out in ((0, 0x200000), (1, 0x201000), (7, 0x300000)):
        img.put(table, i, img.entry(1, out))
        expect.append((1, base | i << 12, True, True, out))
    # A not-present PTE that keeps software bits (bit 9 is ignored in every format but EPT's 10).
    img.put(table, 9, 1 << (10 if fmt == "ept" else 9))
    expect.append((1, base | 9 << 12, False, False, None))
    return img, root, expect


def canonical(fmt: str, top: int, a: int) -> int:
    if fmt != "x86-64":
        return a
    bit = 56 if top == 5 else 47
    return a | ((1 << 64) - (1 << (bit + 1))) if a >> bit & 1 else a


@pytest.mark.parametrize("fmt,top", CASES)
def test_every_entry_reached_at_its_level(tmp_path: Path, fmt: str, top: int) -> None:
    img, root, expect = build(fmt, top)
    with img.open(tmp_path) as m:
        got = [(v.level, v.input_address, v.present, v.leaf, v.output_address)
               for v in walk(m, root, fmt, levels=top if top in (4, 5) and fmt != "pae" else None,
                             platform=img.platform)]
    assert sorted(got) == sorted((lv, canonical(fmt, top, a), p, leaf, o) for lv, a, p, leaf, o in expect)
    assert [g[1] for g in got] == sorted(g[1] for g in got) or fmt == "x86-64"  # address order


@pytest.mark.parametrize("fmt,top", CASES)
def test_translate_every_leaf(tmp_path: Path, fmt: str, top: int) -> None:
    img, root, expect = build(fmt, top)
    lv = top if fmt in ("ept", "x86-64", "npt") else None
    with img.open(tmp_path) as m:
        for level, inp, _present, leaf, out in expect:
            if not leaf:
                continue
            assert out is not None
            t = translate(m, root, fmt, inp + 0x123, levels=lv, platform=img.platform)
            assert t.physical == out + 0x123, (level, hex(inp))
            assert [s.level for s in t.steps] == list(range(top, level - 1, -1))
        t = translate(m, root, fmt, next(e for e in expect if not e[2])[1], levels=lv, platform=img.platform)
        assert t.physical is None and t.fault and "not present" in t.fault


def test_1g_pages_and_sign_extension(tmp_path: Path) -> None:
    plat = Platform(maxphyaddr=46)
    img = Image("x86-64", plat)
    root, pdpt = img.table(), img.table()
    img.put(root, 256, img.entry(4, pdpt))  # the first kernel-half PML4 slot
    img.put(pdpt, 3, img.entry(3, 0x80000000, large=True, execute_disable=1))
    with img.open(tmp_path) as m:
        leaves = [v for v in walk(m, root, "x86-64", platform=plat) if v.leaf]
        assert [(v.input_address, v.size, v.output_address, type(v.entry).__name__) for v in leaves] == [
            (0xFFFF800000000000 + 3 * (1 << 30), 1 << 30, 0x80000000, "Pdpte1G")]
        assert leaves[0].effective == (True, True, False, True)  # XD on the leaf: not executable
        assert translate(m, root, "x86-64", 0xFFFF8000C0001234, platform=plat).physical == 0x80001234


def test_eptp_gives_walk_length_and_ad(tmp_path: Path) -> None:
    img, root, expect = build("ept", 5)
    eptp = root | 6 | (5 - 1) << 3 | 1 << 6  # WB, 5-level walk, A/D (SDM 25.6.11)
    with img.open(tmp_path) as m:
        got = {(v.level, v.input_address) for v in walk(m, eptp, "ept")}
    assert got == {(lv, a) for lv, a, *_ in expect}


def test_loop_and_shared_tables_detected(tmp_path: Path) -> None:
    plat = Platform(maxphyaddr=46)
    img = Image("x86-64", plat)
    root, pdpt, pd, pt = img.table(), img.table(), img.table(), img.table()
    img.put(root, 1, img.entry(4, pdpt))
    img.put(pdpt, 7, img.entry(3, root))  # points back at the root: a loop
    img.put(pdpt, 8, img.entry(3, pd))
    img.put(pdpt, 9, img.entry(3, pd))  # the same PD twice: shared
    img.put(pd, 0, img.entry(2, pt))
    img.put(pt, 0, img.entry(1, 0x5000))
    with img.open(tmp_path) as m:
        visits = list(walk(m, root, "x86-64", platform=plat))
        flags = {(v.level, v.index): v.flags for v in visits if v.flags}
        assert flags == {(3, 7): ("loop",), (3, 9): ("shared",), (1, 0): ("outside",)}
        leaves = [v.input_address for v in visits if v.leaf]
        assert leaves == [(1 << 39) | 8 << 30, (1 << 39) | 9 << 30]  # the shared PD maps both ranges
        kinds = sorted(a.kind for a in check(walk(m, root, "x86-64", platform=plat), "x86-64"))
        assert kinds == ["loop", "outside", "outside", "shared", "wx", "wx"]


def test_truncated_image_reports_outside(tmp_path: Path) -> None:
    img, root, _expect = build("npt", 4)
    with img.open(tmp_path, cut=0x800) as m:  # the last table (the PT) is cut in half
        visits = list(walk(m, root, "npt", platform=img.platform))
    pde = [v for v in visits if v.level == 2 and not v.leaf]
    assert len(pde) == 1 and "outside" in pde[0].flags
    assert not [v for v in visits if v.level == 1]


def test_reserved_bits_and_ept_misconfig_checked(tmp_path: Path) -> None:
    plat = Platform(maxphyaddr=40)
    img = Image("ept", plat)
    root, pdpt, pd, pt = img.table(), img.table(), img.table(), img.table()
    img.put(root, 0, img.entry(4, pdpt))
    img.put(pdpt, 0, img.entry(3, pd))
    img.put(pd, 0, img.entry(2, pt))
    img.put(pt, 0, img.entry(1, 0x100000) | 1 << 45)  # above MAXPHYADDR 40: reserved
    img.put(pt, 1, img.entry(1, 0x101000, read=0))  # write without read: misconfiguration (SDM 29.3.3.1)
    img.put(pt, 2, img.entry(1, 0x102000, write=0))
    with img.open(tmp_path) as m:
        anomalies = list(check(walk(m, root, "ept", platform=plat), "ept"))
    by = defaultdict(list)
    for a in anomalies:
        by[a.input_address].append(a.kind)
    assert "reserved_bits" in by[0] and by[0x1000] and by[0x1000] != ["wx"]
    assert by[0x2000] == []  # r-x, inside the image: nothing to say


def test_coalesced_ranges(tmp_path: Path) -> None:
    plat = Platform(maxphyaddr=46)
    img = Image("x86-64", plat)
    root, pdpt, pd, pt = img.table(), img.table(), img.table(), img.table()
    img.put(root, 0, img.entry(4, pdpt))
    img.put(pdpt, 0, img.entry(3, pd))
    img.put(pd, 0, img.entry(2, pt))
    for i in range(4):
        img.put(pt, i, img.entry(1, 0x200000 + i * 0x1000))
    img.put(pt, 4, img.entry(1, 0x204000, writable=0))
    img.put(pt, 5, img.entry(1, 0x900000, writable=0))  # not contiguous in output
    img.put(pd, 1, img.entry(2, 0x400000, large=True, execute_disable=1))
    with img.open(tmp_path) as m:
        rs = [(r.start, r.end, r.page_size, r.permissions, r.output_start)
              for r in coalesce(walk(m, root, "x86-64", platform=plat), "x86-64")]
    assert rs == [(0, 0x4000, 0x1000, "USR RW x", 0x200000), (0x4000, 0x5000, 0x1000, "USR ro x", 0x204000),
                  (0x5000, 0x6000, 0x1000, "USR ro x", 0x900000), (0x200000, 0x400000, 0x200000, "USR RW NX", 0x400000)]


def test_pae_pdpte_has_no_rw_us(tmp_path: Path) -> None:
    """A PAE PDPTE has no R/W or U/S (SDM 4.4.1): it takes no rights away."""
    img, root, _expect = build("pae", 3)
    with img.open(tmp_path) as m:
        leaf = next(v for v in walk(m, root, "pae", platform=img.platform) if v.leaf and v.level == 1)
    assert leaf.effective == (True, True, True, True)


def test_two_dimensional_walk(tmp_path: Path) -> None:
    """Guest x86-64 tables at guest-physical addresses, reached through an EPT tree."""
    plat = Platform(maxphyaddr=46)
    ept = Image("ept", plat)
    guest = Image("x86-64", plat, base=0x400000)  # builds values only; its pages go into the host image
    e4, e3, e2, e1 = ept.table(), ept.table(), ept.table(), ept.table()
    ept.put(e4, 0, ept.entry(4, e3))
    ept.put(e3, 0, ept.entry(3, e2))
    ept.put(e2, 0, ept.entry(2, e1))
    # Guest tables: GPA 0x1000.. -> host pages allocated in the same image.
    g_tables = [ept.table() for _ in range(4)]
    for i, host in enumerate(g_tables):
        ept.put(e1, 1 + i, ept.entry(1, host))  # GPA (1+i)<<12 -> host
    ept.put(e1, 0x10, ept.entry(1, 0xABC000))  # the guest's data page: GPA 0x10000
    for level, (gpa_t, host_t) in zip((4, 3, 2), zip(range(0x1000, 0x4000, 0x1000), g_tables, strict=False),
                                      strict=False):
        struct.pack_into("<Q", ept.pages[host_t], 0, guest.entry(level, gpa_t + 0x1000))
    struct.pack_into("<Q", ept.pages[g_tables[3]], 5 * 8, guest.entry(1, 0x10000))
    with ept.open(tmp_path) as m:
        nested = NestedMemory(m, e4, "ept", platform=plat)
        visits = list(walk(nested, 0x1000, "x86-64", platform=plat))
        leaf = [v for v in visits if v.leaf]
        assert [(v.input_address, v.output_address, v.host_output_address, v.host_entry_address) for v in leaf] == [
            (0x5000, 0x10000, 0xABC000, g_tables[3] + 5 * 8)]
        assert translate(nested, 0x1000, "x86-64", 0x5678, platform=plat).physical == 0x10678


def test_cli_entries_json_keys(tmp_path: Path) -> None:
    img, root, expect = build("npt", 4)
    p = tmp_path / "i.raw"
    p.write_bytes(img.raw())
    r = subprocess.run([sys.executable, "-m", "spte", "walk", str(p), "--base", hex(img.base), "--root", hex(root),
                        "-f", "npt", "-M", "46", "--entries", "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(recs) == len(expect)
    for rec in recs:
        for k in ("entry_address", "value", "input_address"):
            assert re.fullmatch(r"0x[0-9a-f]+", rec[k])
        assert isinstance(rec["present"], bool) and isinstance(rec["leaf"], bool) and rec["level"] in (1, 2, 3, 4)
        value = int(rec["value"], 16)
        at = int(rec["entry_address"], 16)
        assert img.raw()[at - img.base:at - img.base + 8] == value.to_bytes(8, "little")


def test_cli_translate_and_usage(tmp_path: Path) -> None:
    img, root, _expect = build("x86-64", 4)
    p = tmp_path / "i.raw"
    p.write_bytes(img.raw())
    base = ["walk", str(p), "--base", hex(img.base), "--root", hex(root), "-f", "x86-64"]
    r = subprocess.run([sys.executable, "-m", "spte", *base, "--translate", hex((1 << 39) | 5 << 30 | 6 << 21 |
                                                                               7 << 12 | 0x42)],
                       capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip().endswith("-> 0x300042")
    r = subprocess.run([sys.executable, "-m", "spte", *base, "--levels", "3"], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr


# -- the real image ------------------------------------------------------------------------------

REAL = "real-image"
NPT_ROOT, CR3, GUEST_CR3 = 0x8008000, 0x13E84000, 0x1000
AMD40 = Platform(maxphyaddr=40, vendor="amd")


@pytest.fixture(scope="module")
def real() -> Iterator[PhysicalMemory]:
    with spte.images.open(str(golden(f"{REAL}/l1-tables.elf.xz"))) as m:
        yield m


@pytest.fixture(scope="module")
def npt(real: PhysicalMemory) -> list[Visit]:
    return list(walk(real, NPT_ROOT, "npt", owner=spte.kvm.profile("6.1", "npt", maxphyaddr=40),
                     include_empty=True))


def _trace() -> tuple[dict[tuple[int, int], int], dict[tuple[int, int], int]]:
    """(gfn, level) -> where kvm_mmu_set_spte says the SPTE is; (gfn, level) -> its last value in any event."""
    set_spte: dict[tuple[int, int], int] = {}
    changed: dict[tuple[int, int], int] = {}
    for line in golden_text(f"{REAL}/kvm_trace_spte.txt.gz").splitlines():
        m = re.search(r"kvm_mmu_set_spte: gfn ([0-9a-f]+) spte ([0-9a-f]+) .* level (\d) at ([0-9a-f]+)", line)
        if m:
            set_spte[(int(m[1], 16), int(m[3]))] = int(m[4], 16)
            changed[(int(m[1], 16), int(m[3]))] = int(m[2], 16)
        m = re.search(r"kvm_tdp_mmu_spte_changed: as id 0 gfn ([0-9a-f]+) level (\d) old_spte [0-9a-f]+ "
                      r"new_spte ([0-9a-f]+)", line)
        if m:
            changed[(int(m[1], 16), int(m[2]))] = int(m[3], 16)
        # The fast path fixes a leaf with a cmpxchg that no other event reports; it prints the GPA, not the level.
        m = re.search(r"fast_page_fault: .* gva ([0-9a-f]+) .* new ([0-9a-f]+) spurious \d fixed 1", line)
        if m:
            gfn = int(m[1], 16) >> 12
            key = next(k for k in ((gfn, 1), (gfn & ~0x1FF, 2)) if k in changed)
            changed[key] = int(m[2], 16)
    return set_spte, changed


def test_real_npt_counts_match_kvm_stats(npt: list[Visit]) -> None:
    stats = dict(re.findall(r"^vm (\w+) (\d+)$", golden_text(f"{REAL}/kvm_stats.txt"), re.M))
    leaves = defaultdict(int)
    for v in npt:
        if v.leaf:
            leaves[v.level] += 1
    assert (leaves[1], leaves[2], leaves[3]) == (int(stats["pages_4k"]), int(stats["pages_2m"]),
                                                 int(stats["pages_1g"])) == (1486, 4, 0)
    assert sum(1 for v in npt if v.owner and v.owner.kind.replace("-", "_") == "mmio") == 9


def test_real_npt_every_traced_spte_at_its_address(npt: list[Visit]) -> None:
    set_spte, changed = _trace()
    at = {v.entry_address: v for v in npt}
    assert len(set_spte) == 1490
    for (gfn, level), addr in set_spte.items():
        v = at[addr]
        assert (v.level, v.input_address >> 12, v.value) == (level, gfn, changed[(gfn, level)])
    by_input = {(v.input_address >> 12, v.level): v.value for v in npt}
    assert len(changed) == 1510
    assert all(by_input.get(k, 0) == value for k, value in changed.items())


def _lookup(leaves: list[Visit], address: int) -> int | None:
    import bisect
    starts = [v.input_address for v in leaves]
    i = bisect.bisect_right(starts, address) - 1
    if i < 0 or address >= leaves[i].input_address + leaves[i].size:
        return None
    out = leaves[i].host_output_address if leaves[i].host_output_address is not None else leaves[i].output_address
    assert out is not None
    return out + address - leaves[i].input_address


def test_real_npt_leaves_are_the_pagemap_frames(npt: list[Visit]) -> None:
    leaves = [v for v in npt if v.leaf]
    rows = [ln.split() for ln in golden_text(f"{REAL}/guest_pagemap.txt.gz").splitlines() if not ln.startswith("#")]
    assert len(rows) > 1400
    for _slot, _name, gpa, _hva, _raw, present, pfn, _flags in rows:
        assert present == "1"
        assert _lookup(leaves, int(gpa, 16)) == int(pfn, 16) << 12, gpa


def test_real_two_dimensional_walk_reaches_the_pagemap_frames(real: PhysicalMemory) -> None:
    nested = NestedMemory(real, NPT_ROOT, "npt", platform=AMD40)
    leaves = [v for v in walk(nested, GUEST_CR3, "x86-64", platform=AMD40) if v.leaf]
    frames = {int(r[2], 16): int(r[6], 16) for r in (ln.split() for ln in golden_text(
        f"{REAL}/guest_pagemap.txt.gz").splitlines() if not ln.startswith("#"))}
    checked = 0
    for v in leaves:
        for off in range(0, v.size, 0x1000):
            assert v.output_address is not None
            gpa = v.output_address + off
            if gpa in frames:
                assert _lookup(leaves, v.input_address + off) == frames[gpa] << 12
                checked += 1
    assert checked > 1000


def test_real_host_tables_give_the_vmm_pagemap(real: PhysicalMemory) -> None:
    leaves = [v for v in walk(real, CR3, "x86-64", platform=AMD40) if v.leaf and v.input_address < 1 << 47]
    rows = [ln.split() for ln in golden_text(f"{REAL}/vmm_pagemap.txt.gz").splitlines() if not ln.startswith("#")]
    assert len(rows) == 5797
    for va, pfn, _raw in rows:
        assert _lookup(leaves, int(va, 16)) == int(pfn, 16) << 12, va


def test_real_host_tables_agree_with_ptdump(real: PhysicalMemory) -> None:
    """Every flag x86 ptdump prints for user space (leaf flags, arch/x86/mm/dump_pagetables.c)."""
    leaves = [v for v in walk(real, CR3, "x86-64", platform=AMD40) if v.leaf and v.input_address < 1 << 47]
    names = {1: "pte", 2: "pmd", 3: "pud", 4: "pgd"}
    lines = [ln for ln in golden_text(f"{REAL}/ptdump_user_l2vmm.txt").splitlines() if ln.startswith("0x")]
    assert len(lines) > 40
    covered = 0
    for line in lines:
        m = re.match(r"0x([0-9a-f]+)-0x([0-9a-f]+)\s+\S+\s(.*)\s(\w+)$", line)
        assert m, line
        start, end, flags, level = int(m[1], 16), int(m[2], 16), m[3].split(), m[4]
        inside = [v for v in leaves if start <= v.input_address < end]
        if not flags:
            assert not inside, line
            continue
        assert sum(v.size for v in inside) == end - start, line
        for v in inside:
            f = v.entry.fields()
            mine = ["USR"] if f["user"] else []
            mine.append("RW" if f["writable"] else "ro")
            mine += [n for n, k in (("PWT", "write_through"), ("PCD", "cache_disable")) if f[k]]
            mine += ["PSE"] if v.level > 1 else []
            mine += ["GLB"] if f["global"] else []
            mine.append("NX" if f["execute_disable"] else "x")
            assert (mine, names[v.level]) == (flags, level), line
        covered += len(inside)
    assert covered == len(leaves)


def test_real_check_knows_kvm_mmio_sptes(real: PhysicalMemory) -> None:
    """KVM's MMIO SPTEs set reserved bits on purpose (on AMD, bits above MAXPHYADDR up to 51, so that the
    access faults with PFEC.RSVD: arch/x86/kvm/svm/svm.c svm_adjust_mmio_mask()); the owner view says so."""
    bare = [a for a in check(walk(real, NPT_ROOT, "npt", platform=AMD40), "npt") if a.kind == "reserved_bits"]
    assert len(bare) == 9 and all(a.level == 1 for a in bare)
    prof = spte.kvm.profile("6.1", "npt", maxphyaddr=40)
    owned = list(check(walk(real, NPT_ROOT, "npt", owner=prof), "npt"))
    assert not [a for a in owned if a.kind in ("reserved_bits", "implausible")]
    # The fixture holds table pages only: leaves point outside it, tables never do.
    assert {a.level for a in owned if a.kind == "outside"} <= {1, 2}


def test_real_cli_ranges(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "spte", "walk", str(golden(f"{REAL}/l1-tables.elf.xz")), "--root",
                        hex(NPT_ROOT), "--kvm", "6.1:npt", "-M", "40", "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    ranges = [json.loads(line) for line in r.stdout.splitlines()]
    mapped = sum(x["size"] for x in ranges if x["output_start"])
    stats = dict(re.findall(r"^vm (\w+) (\d+)$", golden_text(f"{REAL}/kvm_stats.txt"), re.M))
    assert mapped == int(stats["pages_4k"]) * 4096 + int(stats["pages_2m"]) * (2 << 20)


def test_progress_reported_on_long_walks(tmp_path: Path) -> None:
    plat = Platform(maxphyaddr=46)
    img = Image("x86-64", plat)
    root, pdpt, pd = img.table(), img.table(), img.table()
    img.put(root, 0, img.entry(4, pdpt))
    img.put(pdpt, 0, img.entry(3, pd))
    for i in range(130):
        pt = img.table()
        img.put(pd, i, img.entry(2, pt))
        img.put(pt, 0, img.entry(1, 0x1000))
    seen: list[int] = []
    from spte.walker import Walker
    with img.open(tmp_path) as m:
        n = sum(1 for _ in Walker(m, "x86-64", platform=plat, progress=lambda s: seen.append(s.tables)).walk(root))
    assert n == 2 + 130 * 2 and seen == [64, 128]  # 133 tables


def test_cli_root_not_in_image(tmp_path: Path) -> None:
    img, _root, _ = build("ept", 4)
    p = tmp_path / "i.raw"
    p.write_bytes(img.raw())
    r = subprocess.run([sys.executable, "-m", "spte", "walk", str(p), "--root", "0x7000000", "-f", "ept"],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "not in the image" in r.stderr and "Traceback" not in r.stderr


def test_check_with_owner_mmio_and_implausible(tmp_path: Path) -> None:
    """KVM's own make_mmio_spte() value is expected to fault; the same with SPTE_MMU_PRESENT_MASK (bit 11)
    is no SPTE KVM 6.1 builds (arch/x86/kvm/mmu/spte.h: MMIO SPTEs never have the MMU-present bit)."""
    prof = spte.kvm.profile("6.1", "npt", maxphyaddr=40)
    img = Image("npt", AMD40)
    root, pdpt, pd, pt = img.table(), img.table(), img.table(), img.table()
    # The tables as KVM links them (make_nonleaf_spte: MMU-present, accessed, P|W|U).
    img.put(root, 0, prof.make_nonleaf_spte(pdpt, False))
    img.put(pdpt, 0, prof.make_nonleaf_spte(pd, False))
    img.put(pd, 0, prof.make_nonleaf_spte(pt, False))
    mmio = prof.make_mmio_spte(0xC0, 3, 0xC)
    img.put(pt, 0xC0, mmio)
    img.put(pt, 0xC1, prof.make_mmio_spte(0xC1, 3, 0xC) | 1 << 11)
    with img.open(tmp_path) as m:
        bare = {(a.input_address, a.kind) for a in check(walk(m, root, "npt", platform=AMD40), "npt")}
        owned = {(a.input_address, a.kind) for a in check(walk(m, root, "npt", owner=prof), "npt")}
    assert bare == {(0xC0000, "reserved_bits"), (0xC1000, "reserved_bits")}
    assert owned == {(0xC1000, "reserved_bits"), (0xC1000, "implausible")}
