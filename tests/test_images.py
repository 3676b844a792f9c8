"""Image readers: ELF cores by p_paddr, LiME, raw with a base, compressed, kdump via an extra.

Images are built here byte by byte from the formats' definitions: the ELF core layout
(System V gABI: Elf64_Ehdr 64 bytes, Elf64_Phdr 56, Elf32_Phdr 32), LiME's 32-byte range
header (lime's lime.h: magic 0x4C694D45, version 1, s_addr, e_addr inclusive), QEMU's
QEMUCPUState (cr[0..4] at descriptor offset 392: 8 bytes of version/size, 16 GPRs, rip,
rflags, 10 segments of 24 bytes) and the x86-64 elf_prstatus (pr_pid at 24, pr_reg at 112).
"""

from __future__ import annotations

import gzip
import lzma
import struct
import subprocess
import sys
import types
from pathlib import Path

import pytest

import spte.images
from spte.images import ImageError

PT_LOAD, PT_NOTE = 1, 4


def note(name: bytes, ntype: int, desc: bytes) -> bytes:
    pad = lambda b: b + bytes(-len(b) % 4)  # noqa: E731
    return struct.pack("<III", len(name) + 1, len(desc), ntype) + pad(name + b"\0") + pad(desc)


def qemu_note(cr0: int, cr3: int, cr4: int, rip: int = 0x401000) -> bytes:
    desc = bytearray(440)
    struct.pack_into("<II", desc, 0, 1, 440)
    struct.pack_into("<Q", desc, 8 + 16 * 8, rip)
    struct.pack_into("<5Q", desc, 392, cr0, 0, 0, cr3, cr4)
    return note(b"QEMU", 0, bytes(desc))


def prstatus_note(pid: int, rip: int) -> bytes:
    desc = bytearray(336)
    struct.pack_into("<i", desc, 24, pid)
    struct.pack_into("<Q", desc, 112 + 16 * 8, rip)
    return note(b"CORE", 1, bytes(desc))


def elf64_core(segments: list[tuple[int, bytes]], notes: bytes = b"", vaddr_junk: int = 0xFFFF888000000000) -> bytes:
    phnum = len(segments) + (1 if notes else 0)
    off = 64 + 56 * phnum
    hdr = b"\x7fELF\x02\x01\x01" + bytes(9) + struct.pack("<HHIQQQIHHHHHH", 4, 62, 1, 0, 64, 0, 0, 64, 56, phnum,
                                                              0, 0, 0)
    ph, body = b"", b""
    if notes:
        ph += struct.pack("<IIQQQQQQ", PT_NOTE, 0, off, 0, 0, len(notes), 0, 0)
        body += notes
    for paddr, data in segments:
        ph += struct.pack("<IIQQQQQQ", PT_LOAD, 6, off + len(body), vaddr_junk + paddr, paddr, len(data), len(data),
                          0x1000)
        body += data
    return hdr + ph + body


def elf32_core(segments: list[tuple[int, bytes]]) -> bytes:
    phnum = len(segments)
    off = 52 + 32 * phnum
    hdr = b"\x7fELF\x01\x01\x01" + bytes(9) + struct.pack("<HHIIIIIHHHHHH", 4, 3, 1, 0, 52, 0, 0, 52, 32, phnum,
                                                              0, 0, 0)
    ph, body = b"", b""
    for paddr, data in segments:
        ph += struct.pack("<IIIIIIII", PT_LOAD, off + len(body), 0xC0000000 + paddr, paddr, len(data), len(data),
                          6, 0x1000)
        body += data
    return hdr + ph + body


def lime(segments: list[tuple[int, bytes]]) -> bytes:
    return b"".join(struct.pack("<IIQQ8x", 0x4C694D45, 1, s, s + len(d) - 1) + d for s, d in segments)


A, B = bytes(range(256)) * 16, bytes(reversed(range(256))) * 32  # one and two pages of recognisable bytes


def write(tmp_path: Path, name: str, data: bytes) -> str:
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


def check_two_segments(m: spte.images.PhysicalMemory) -> None:
    assert m.ranges() == ((0x1000, 0x2000), (0x100000, 0x102000))
    assert m.read(0x1000, 16) == A[:16]
    assert m.read(0x1FF8, 8) == A[-8:]
    assert m.read(0x1FF8, 16) is None  # runs off the segment into a hole
    assert m.read(0x101000, 8) == B[4096:4104]
    assert m.read(0x0, 8) is None and m.read(0x102000, 1) is None
    assert m.contains(0x100000, 0x2000) and not m.contains(0x100000, 0x2001)


def test_elf64_core_read_by_paddr_not_vaddr(tmp_path: Path) -> None:
    with spte.images.open(write(tmp_path, "c.elf", elf64_core([(0x1000, A), (0x100000, B)]))) as m:
        assert m.kind == "elf"
        check_two_segments(m)


def test_elf64_adjacent_segments_read_across(tmp_path: Path) -> None:
    with spte.images.open(write(tmp_path, "c.elf", elf64_core([(0x1000, A), (0x2000, B)]))) as m:
        assert m.read(0x1FFC, 8) == A[-4:] + B[:4]
        assert m.ranges() == ((0x1000, 0x4000),)


def test_elf32_core(tmp_path: Path) -> None:
    with spte.images.open(write(tmp_path, "c32.elf", elf32_core([(0x1000, A), (0x100000, B)]))) as m:
        check_two_segments(m)


def test_lime_ranges_end_inclusive(tmp_path: Path) -> None:
    with spte.images.open(write(tmp_path, "m.lime", lime([(0x1000, A), (0x100000, B)]))) as m:
        assert m.kind == "lime"
        check_two_segments(m)


def test_raw_with_base(tmp_path: Path) -> None:
    with spte.images.open(write(tmp_path, "m.raw", A + B), base=0x7000) as m:
        assert m.ranges() == ((0x7000, 0xA000),)
        assert m.read(0x7000, 4) == A[:4] and m.read(0x8000, 4) == B[:4] and m.read(0x6FFF, 2) is None


@pytest.mark.parametrize("compress,name", [(gzip.compress, "c.elf.gz"), (lzma.compress, "c.elf.xz")])
def test_compressed_reads_like_plain_and_says_so(tmp_path: Path, compress: object, name: str) -> None:
    said: list[str] = []
    data = compress(elf64_core([(0x1000, A), (0x100000, B)]))  # type: ignore[operator]
    with spte.images.open(write(tmp_path, name, data), progress=said.append) as m:
        check_two_segments(m)
    assert len(said) == 1 and "cannot seek" in said[0] and name in said[0]


def test_zstd_names_what_to_do(tmp_path: Path) -> None:
    p = write(tmp_path, "m.raw.zst", b"\x28\xb5\x2f\xfd" + bytes(60))
    if sys.version_info >= (3, 14):
        pytest.skip("Python 3.14 reads zstd itself")
    with pytest.raises(ImageError, match=r"zstd -d .*m\.raw\.zst"):
        spte.images.open(p)


def test_notes_offer_registers(tmp_path: Path) -> None:
    notes = prstatus_note(107, 0x4016C0) + qemu_note(0x80050033, 0x13E84000, 0x3506F0, 0x4016C0) + note(
        b"VMCOREINFO", 0, b"OSRELEASE=6.1.0\nSYMBOL(init_top_pgt)=ffffffff82a10000\nNUMBER(phys_base)=0x8000000\n")
    with spte.images.open(write(tmp_path, "n.elf", elf64_core([(0, A)], notes))) as m:
        qemu = [r for r in m.registers if r.source.startswith("QEMU")]
        pr = [r for r in m.registers if r.source.startswith("NT_PRSTATUS")]
        assert (qemu[0].cr0, qemu[0].cr3, qemu[0].cr4, qemu[0].rip) == (0x80050033, 0x13E84000, 0x3506F0, 0x4016C0)
        assert (pr[0].pid, pr[0].rip, pr[0].cr3) == (107, 0x4016C0, None)
        assert m.vmcoreinfo["SYMBOL(init_top_pgt)"] == "ffffffff82a10000"


@pytest.mark.parametrize("make,name,what", [
    (lambda: elf64_core([(0x1000, A)])[:-100], "t.elf", "truncated"),
    (lambda: elf64_core([(0x1000, A)])[:70], "t2.elf", "truncated"),
    (lambda: b"\x7fELF\x02\x01", "t3.elf", "truncated"),
    (lambda: elf64_core([(0x1000, A)]).replace(b"\x04\x00>\x00", b"\x02\x00>\x00", 1), "exe.elf", "not a core"),
    (lambda: lime([(0x1000, A)])[:-1], "t.lime", "truncated"),
    (lambda: lime([(0x1000, A)]) + b"junk" * 10, "j.lime", "no LiME header"),
    (lambda: lzma.compress(A * 4)[:-20], "t.raw.xz", "damaged or truncated"),
    (lambda: gzip.compress(A * 4)[:-20], "t.raw.gz", "damaged or truncated"),
])
def test_bad_images_one_line_error(tmp_path: Path, make: object, name: str, what: str) -> None:
    p = write(tmp_path, name, make())  # type: ignore[operator]
    with pytest.raises(ImageError, match=what) as e:
        spte.images.open(p)
    assert "\n" not in str(e.value) and name in str(e.value)


def test_cli_bad_image_exit_1_no_traceback(tmp_path: Path) -> None:
    p = write(tmp_path, "t.elf", elf64_core([(0x1000, A)])[:-100])
    r = subprocess.run([sys.executable, "-m", "spte", "walk", p, "--root", "0x1000", "-f", "npt"],
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "truncated" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "spte", "walk", str(tmp_path / "missing"), "--root", "0", "-f", "npt"],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "No such file" in r.stderr and "Traceback" not in r.stderr


def test_kdump_compressed_needs_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = write(tmp_path, "vmcore", b"KDUMP   " + bytes(4088))
    monkeypatch.setitem(sys.modules, "drgn", None)  # None in sys.modules makes the import fail
    monkeypatch.setitem(sys.modules, "kdumpfile", None)
    with pytest.raises(ImageError, match=r"spte-toolkit\[kdump\]"):
        spte.images.open(p)


def test_kdump_compressed_reads_through_drgn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The adapter's use of drgn's API (Program.set_core_dump, Program.read(address, size, physical))."""
    p = write(tmp_path, "vmcore", b"makedumpfile" + bytes(100))

    class FaultError(Exception):
        pass

    class Program:
        def set_core_dump(self, path: str) -> None:
            self.path = path

        def read(self, address: int, size: int, physical: bool = False) -> bytes:
            if not physical or not 0x1000 <= address < address + size <= 0x2000:
                raise FaultError(address)
            return A[address - 0x1000:address - 0x1000 + size]

    fake = types.ModuleType("drgn")
    fake.Program, fake.FaultError = Program, FaultError  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "drgn", fake)
    with spte.images.open(p) as m:
        assert m.read(0x1008, 4) == A[8:12] and m.read(0x3000, 4) is None and "drgn" in m.kind
