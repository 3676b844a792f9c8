"""Root finding: registers in notes, VMCBs by their architectural layout, upward search; look-alikes ranked low.

VMCB offsets are the AMD APM's (vol. 2, appendix B; struct vmcb in arch/x86/include/asm/svm.h):
intercept word 4 at 0x10 (bit 0 VMRUN), guest ASID at 0x58, nested_ctl at 0x90 (bit 0
NP_ENABLE), nested_cr3 at 0xB0, save area at 0x400 with EFER at +0xD0 and CR4/CR3/CR0 at
+0x148/+0x150/+0x158.  The real image's roots come from its roots.txt (QEMU's registers and
the VMCB), not from this project.
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

import spte.images
from spte.images import PhysicalMemory
from spte.platform import Platform
from spte.walker import find_roots
from tests.conftest import golden, golden_text
from tests.test_images import elf64_core, note, qemu_note
from tests.test_walk import Image

AMD40 = Platform(maxphyaddr=40, vendor="amd")


def vmcb(nested_cr3: int, guest_cr3: int, efer: int = 0x1D01, asid: int = 1, vmrun: bool = True) -> bytes:
    page = bytearray(4096)
    page[0x10] = 1 if vmrun else 0
    struct.pack_into("<I", page, 0x58, asid)
    struct.pack_into("<Q", page, 0x90, 1)
    struct.pack_into("<Q", page, 0xB0, nested_cr3)
    struct.pack_into("<Q", page, 0x400 + 0xD0, efer)
    struct.pack_into("<QQQ", page, 0x400 + 0x148, 0x20, guest_cr3, 0x80000001)
    return bytes(page)


def npt_world(tmp_path: Path, *, with_vmcb: bool = True) -> tuple[PhysicalMemory, dict[str, int]]:
    """A live NPT tree, a stale copy of its root, a page of raw SPTE values among ring-buffer-like words."""
    img = Image("npt", AMD40)
    root, pdpt, pd, pt = img.table(), img.table(), img.table(), img.table()
    img.put(root, 0, img.entry(4, pdpt))
    img.put(pdpt, 0, img.entry(3, pd))
    img.put(pd, 0, img.entry(2, pt))
    for i in range(64):
        img.put(pt, i, img.entry(1, 0x200000 + i * 0x1000))
    stale = img.table()
    img.pages[stale][:] = img.pages[root]  # a freed copy: same entries, nobody points at it
    ring = img.table()
    words = [0x1A2B3C4D5E6F7081, 0x4C4, img.entry(4, pdpt), 0xDEADBEEF00000000 | 7, 0xFFFFFFFF81234567]
    for i in range(512):
        struct.pack_into("<Q", img.pages[ring], i * 8, words[i % len(words)] + (i if i % 5 != 2 else 0))
    v = img.table()
    if with_vmcb:
        img.pages[v][:] = vmcb(root, 0x1000)
    p = tmp_path / "npt.raw"
    p.write_bytes(img.raw())
    return spte.images.open(str(p), base=img.base), {"root": root, "stale": stale, "ring": ring, "pt": pt,
                                                      "vmcb": v}


def test_vmcb_root_first_copies_and_raw_values_below(tmp_path: Path) -> None:
    m, at = npt_world(tmp_path)
    with m:
        cands = find_roots(m, platform=AMD40, from_table=at["pt"], table_level=1)
    roots = [(c.root, c.format, c.space) for c in cands]
    assert roots[0] == (at["root"], "npt", "host-physical")
    assert f"VMCB at {at['vmcb']:#x}" in cands[0].to_json()["evidence"]
    assert "upward search" in cands[0].to_json()["evidence"]  # both sources merged
    stale = next(c for c in cands if c.root == at["stale"])
    assert stale.copy_of == at["root"] and "stale copy" in stale.to_json()["evidence"]
    ring = next(c for c in cands if c.root == at["ring"])
    assert ring.valid < 0.9
    assert roots.index((at["stale"], "npt", "host-physical")) > 0
    assert roots.index((at["ring"], "npt", "host-physical")) > 0
    guest = [c for c in cands if c.space.startswith("guest")]
    assert [(c.root, c.format, c.levels) for c in guest] == [(0x1000, "x86-64", 4)]


def test_without_evidence_the_copy_is_still_named(tmp_path: Path) -> None:
    m, at = npt_world(tmp_path, with_vmcb=False)
    with m:
        cands = find_roots(m, platform=AMD40, from_table=at["pt"], table_level=1, scan_vmcbs=False)
    live = [c for c in cands if c.root in (at["root"], at["stale"])]
    assert len(live) == 2 and sum(c.copy_of is not None for c in live) == 1  # an exact copy: one is named the copy
    assert cands[-1].root == at["ring"]


def test_vmcb_needs_vmrun_intercept_asid_and_svme(tmp_path: Path) -> None:
    pages = [vmcb(0x8000, 0x1000, vmrun=False), vmcb(0x8000, 0x1000, asid=0), vmcb(0x8000, 0x1000, efer=0x500),
             vmcb(0x8000, 0x1000, efer=0x1D01 | 1 << 40)]
    p = tmp_path / "v.raw"
    p.write_bytes(b"".join(pages))
    with spte.images.open(str(p)) as m:
        assert find_roots(m, platform=AMD40) == []


@pytest.mark.parametrize("cr4,fmt,levels", [(0x3506F0, "x86-64", 4), (0x3506F0 | 1 << 12, "x86-64", 5),
                                            (0x10, "x86-32", 2)])
def test_note_cr3_offered_as_root(tmp_path: Path, cr4: int, fmt: str, levels: int) -> None:
    p = tmp_path / "n.elf"
    p.write_bytes(elf64_core([(0, bytes(0x4000))], qemu_note(0x80050033, 0x2000, cr4)))
    with spte.images.open(str(p)) as m:
        c = find_roots(m, scan_vmcbs=False)
    assert [(x.root, x.format, x.levels) for x in c] == [(0x2000, fmt, levels)]
    assert "QEMU note 0" in c[0].to_json()["evidence"]


def test_vmcoreinfo_init_top_pgt(tmp_path: Path) -> None:
    info = b"SYMBOL(init_top_pgt)=ffffffff82a10000\nNUMBER(phys_base)=0x1000000\n"
    p = tmp_path / "k.elf"
    p.write_bytes(elf64_core([(0, bytes(0x4000))], note(b"VMCOREINFO", 0, info)))
    with spte.images.open(str(p)) as m:
        c = find_roots(m, scan_vmcbs=False)
    # __START_KERNEL_map is 0xffffffff80000000 (arch/x86/include/asm/page_64_types.h)
    assert [(x.root, x.format) for x in c] == [(0x2A10000 + 0x1000000, "x86-64")]


def _real_roots() -> dict[str, int]:
    out = {}
    for line in golden_text("real-image/roots.txt").splitlines():
        m = re.match(r"(\w+)\s+(0x[0-9a-f]+)", line)
        if m:
            out[m[1]] = int(m[2], 16)
    return out


def test_real_image_true_roots_ranked_first() -> None:
    want = _real_roots()
    with spte.images.open(str(golden("real-image/l1-tables.elf.xz"))) as m:
        cands = find_roots(m, platform=AMD40, from_table=0x8005000, table_level=1)
    top = {(c.root, c.format, c.space.split()[0]) for c in cands[:3]}
    assert top == {(want["L1_CR3"], "x86-64", "host-physical"), (want["SPTE_root_pa"], "npt", "host-physical"),
                   (want["L2_guest_CR3_gpa"], "x86-64", "guest-physical")}
    npt = next(c for c in cands if c.root == want["SPTE_root_pa"])
    assert f"VMCB at {want['L2_VMCB_pa']:#x}" in npt.to_json()["evidence"]
    assert npt.tables == 12
    assert all(c.tier == 2 and (c.valid < 0.9 or c.copy_of is not None) for c in cands[3:])
    assert len(cands) > 3  # the upward search also found look-alikes, ranked below


def test_cli_roots_json() -> None:
    r = subprocess.run([sys.executable, "-m", "spte", "roots", str(golden("real-image/l1-tables.elf.xz")),
                        "--json", "-M", "40"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert {"root", "format", "levels", "evidence"} <= set(recs[0])
    assert [x["root"] for x in recs[:3]] == ["0x13e84000", "0x1000", "0x8008000"] or \
        {x["root"] for x in recs[:3]} == {"0x13e84000", "0x1000", "0x8008000"}
