"""Build tests/data/real-image/ from the shared real image (run once; tests read only the result).

    python tools/make_walk_fixture.py REAL_IMAGE_DIR

Keeps, as a small xz-compressed ELF core with the original notes: every table page reachable
from the NPT root, the VMCB page, the L2 guest's table pages (at their host addresses), the
VMM's user-half tables from CR3, and the pages an upward search from a traced SPTE table
finds (look-alike roots, kept so the ranking is tested on real data).  Plus the trace's SPTE
events, the pagemaps, the user-space part of the kernel's ptdump, KVM's stats and the roots.
"""

from __future__ import annotations

import gzip
import lzma
import shutil
import struct
import sys
from pathlib import Path

from spte.images import open as open_image
from spte.images.readers import PT_LOAD, PT_NOTE
from spte.platform import Platform
from spte.walker import NestedMemory, find_roots, walk

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "real-image"
NPT_ROOT, CR3, VMCB, GUEST_CR3 = 0x8008000, 0x13E84000, 0x7BC2000, 0x1000


def main(src: Path) -> None:
    mem = open_image(str(src / "l1mem.elf.xz"))
    plat = Platform(maxphyaddr=40, vendor="amd")
    pages = {VMCB}
    pages |= {v.entry_address & ~0xFFF for v in walk(mem, NPT_ROOT, "npt", platform=plat)}
    nested = NestedMemory(mem, NPT_ROOT, "npt", platform=plat)
    for v in walk(nested, GUEST_CR3, "x86-64", platform=plat):
        assert v.host_entry_address is not None
        pages.add(v.host_entry_address & ~0xFFF)
    pages.add(CR3)
    for v in walk(mem, CR3, "x86-64", platform=plat):
        if v.level == 4 and v.index >= 256:
            continue
        if v.input_address < 1 << 47:
            pages.add(v.entry_address & ~0xFFF)
    for c in find_roots(mem, platform=plat, from_table=0x8005000, table_level=1, scan_vmcbs=False):
        if c.tier == 2:
            pages.add(c.root)
    notes = b"".join(_notes(src / "l1mem.elf.xz"))
    OUT.mkdir(parents=True, exist_ok=True)
    runs: list[tuple[int, bytes]] = []
    for p in sorted(pages):
        data = mem.read(p, 4096)
        assert data is not None
        if runs and runs[-1][0] + len(runs[-1][1]) == p:
            runs[-1] = (runs[-1][0], runs[-1][1] + data)
        else:
            runs.append((p, data))
    phnum = 1 + len(runs)
    off = 64 + 56 * phnum
    hdr = bytearray(b"\x7fELF\x02\x01\x01" + bytes(9))
    hdr += struct.pack("<HHIQQQIHHHHHH", 4, 62, 1, 0, 64, 0, 0, 64, 56, phnum, 0, 0, 0)
    phdrs = struct.pack("<IIQQQQQQ", PT_NOTE, 0, off, 0, 0, len(notes), 0, 0)
    body = notes
    for addr, data in runs:
        phdrs += struct.pack("<IIQQQQQQ", PT_LOAD, 4, off + len(body), 0, addr, len(data), len(data), 0)
        body += data
    with lzma.open(OUT / "l1-tables.elf.xz", "wb", preset=9) as fh:
        fh.write(bytes(hdr) + phdrs + body)
    trace = [ln for ln in (src / "kvm_trace.txt").read_text().splitlines()
             if "kvm_mmu_set_spte:" in ln or "kvm_tdp_mmu_spte_changed:" in ln or "fast_page_fault:" in ln]
    _gz(OUT / "kvm_trace_spte.txt.gz", "\n".join(trace) + "\n")
    gp = [ln for ln in (src / "guest_pagemap.txt").read_text().splitlines() if ln.startswith("#") or
          ln.split()[5] == "1"]
    _gz(OUT / "guest_pagemap.txt.gz", "\n".join(gp) + "\n")
    shutil.copyfile(src / "vmm_pagemap.txt", OUT / "vmm_pagemap.txt")
    _gz(OUT / "vmm_pagemap.txt.gz", (src / "vmm_pagemap.txt").read_text())
    (OUT / "vmm_pagemap.txt").unlink()
    lines = (src / "ptdump_current_user_l2vmm.txt").read_text().splitlines()
    user = lines[:next(i for i, ln in enumerate(lines) if ln.startswith("---[ Kernel"))]
    (OUT / "ptdump_user_l2vmm.txt").write_text("\n".join(user) + "\n")
    for name in ("kvm_stats.txt", "roots.txt"):
        shutil.copyfile(src / name, OUT / name)
    print(f"{len(pages)} pages in {len(runs)} segments")


def _notes(path: Path) -> list[bytes]:
    with lzma.open(path) as fh:
        head = fh.read(1 << 16)
    phoff, = struct.unpack_from("<Q", head, 32)
    phnum, = struct.unpack_from("<H", head, 56)
    out = []
    for i in range(phnum):
        p_type, _, p_offset, _, _, p_filesz, _, _ = struct.unpack_from("<IIQQQQQQ", head, phoff + 56 * i)
        if p_type == PT_NOTE:
            out.append(head[p_offset:p_offset + p_filesz])
    return out


def _gz(path: Path, text: str) -> None:
    with gzip.open(path, "wt", compresslevel=9) as fh:
        fh.write(text)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
