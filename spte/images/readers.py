"""Readers: ELF cores (by ``p_paddr``), LiME, raw; compressed streams; kdump-compressed via an extra.

Formats parsed here are small and fixed (the ELF header and program headers, LiME's
32-byte range headers); kdump-compressed vmcores are read by drgn or libkdumpfile, never
by us.
"""

from __future__ import annotations

import gzip
import importlib
import lzma
import os
import struct
import sys
import tempfile
import zlib
from collections.abc import Callable
from typing import IO, Any

from spte.images.base import CpuRegisters, ImageError, PhysicalMemory, Segment, SegmentedMemory, map_file

ELF_MAGIC = b"\x7fELF"
ELFCLASS32, ELFCLASS64 = 1, 2
ELFDATA2LSB = 1
ET_CORE = 4
PT_LOAD, PT_NOTE = 1, 4
NT_PRSTATUS = 1
LIME_MAGIC = 0x4C694D45  # "EMiL" on disk: lime's LIME_MAGIC
LIME_HEADER = struct.Struct("<IIQQ8x")
assert LIME_HEADER.size == 32
KDUMP_SIGNATURES = (b"KDUMP   ", b"DISKDUMP", b"makedumpfile")
GZIP_MAGIC, XZ_MAGIC, ZSTD_MAGIC = b"\x1f\x8b", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd"
BZIP2_MAGIC = b"BZh"

# QEMU's QEMUCPUState (target/i386/arch_dump.c): version, size, 16 GPRs, rip, rflags,
# 10 segments of 24 bytes, then cr[5]: cr[0] sits at 392.
QEMU_CR_OFFSET = 8 + 16 * 8 + 8 + 8 + 10 * 24
assert QEMU_CR_OFFSET == 392
QEMU_RIP_OFFSET = 8 + 16 * 8
# x86-64 struct elf_prstatus: pr_pid at 24, pr_reg (27 u64: ... rip is the 17th) at 112.
PRSTATUS_PID_OFFSET, PRSTATUS_REG_OFFSET, PRSTATUS_RIP_INDEX = 24, 112, 16
KDUMP_EXTRA = "pip install 'spte-toolkit[kdump]' (drgn) or the libkdumpfile Python bindings"


def _sniff(path: str, head: bytes) -> str:
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(XZ_MAGIC):
        return "xz"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if head.startswith(BZIP2_MAGIC) and path.endswith(".bz2"):
        return "bzip2"
    if head.startswith(ELF_MAGIC):
        return "elf"
    if len(head) >= 4 and struct.unpack_from("<I", head)[0] == LIME_MAGIC:
        return "lime"
    if any(head.startswith(s) for s in KDUMP_SIGNATURES):
        return "kdump"
    return "raw"


def open_image(path: str, *, base: int | None = None, format: str | None = None,
               progress: Callable[[str], None] | None = None) -> PhysicalMemory:
    """Open a memory image, recognising its format by its first bytes.

    ``base`` is the physical address of a raw image's first byte (default 0); ``format``
    forces one of "elf", "lime", "raw", "kdump".  Compressed (gzip, xz; zstd where the
    standard library has it) images are decompressed once into an unlinked temporary file:
    neither format can seek backwards without starting over, and a walk jumps around.
    ``progress`` receives the one-line message saying so.
    """
    try:
        fh: IO[bytes] = open(path, "rb")
    except OSError as e:
        raise ImageError(f"{path}: {e.strerror or e}") from None
    head = fh.read(64)
    kind = _sniff(path, head)
    if kind in ("gzip", "xz", "zstd", "bzip2"):
        fh = _spool(path, fh, kind, progress)
        head = fh.read(64)
        kind = _sniff(path, head)
        if kind in ("gzip", "xz", "zstd", "bzip2", "kdump"):
            fh.close()
            raise ImageError(f"{path}: a {kind} stream inside a compressed stream: unpack it first")
    if format is not None:
        if format not in ("elf", "lime", "raw", "kdump"):
            fh.close()
            raise ImageError(f"{path}: unknown image format {format!r}: expected elf, lime, raw or kdump")
        kind = format
    if base is not None and kind != "raw":
        fh.close()
        raise ImageError(f"{path}: --base applies to raw images; this one is {kind}")
    try:
        if kind == "kdump":
            fh.close()
            return open_kdump(path)
        buf = map_file(fh)
        if kind == "elf":
            return _elf(path, fh, buf)
        if kind == "lime":
            return _lime(path, fh, buf)
        return SegmentedMemory(path, "raw", buf, [Segment(base or 0, len(buf), 0)], keep=[fh])
    except ImageError:
        fh.close()
        raise
    except (struct.error, ValueError, OverflowError) as e:  # a field no check above foresaw
        fh.close()
        raise ImageError(f"{path}: not a readable {kind} image ({e})") from None


def _spool(path: str, fh: IO[bytes], kind: str, progress: Callable[[str], None] | None) -> IO[bytes]:
    fh.seek(0)
    stream: Any
    if kind == "gzip":
        stream = gzip.GzipFile(fileobj=fh)
    elif kind == "xz":
        stream = lzma.LZMAFile(fh)
    elif kind == "bzip2":
        import bz2
        stream = bz2.BZ2File(fh)
    else:
        try:
            zstd: Any = importlib.import_module("compression.zstd")  # Python >= 3.14
        except ImportError:
            fh.close()
            raise ImageError(f"{path}: zstd-compressed; this Python has no zstd reader (3.14+ has): "
                             f"run 'zstd -d {path}' and open the result") from None
        stream = zstd.ZstdFile(fh)
    tmpdir = os.environ.get("TMPDIR") or tempfile.gettempdir()
    if progress:
        progress(f"{path}: {kind}-compressed, which cannot seek: decompressing once into an unlinked "
                 f"temporary file in {tmpdir}")
    out = tempfile.TemporaryFile(dir=tmpdir)
    try:
        while True:
            try:
                block = stream.read(1 << 20)
            except (OSError, EOFError, lzma.LZMAError, zlib.error) as e:
                raise ImageError(f"{path}: {kind} stream is damaged or truncated ({e})") from None
            if not block:
                break
            try:
                out.write(block)
            except OSError as e:
                raise ImageError(f"{path}: cannot decompress into {tmpdir} ({e.strerror or e}); "
                                 "set TMPDIR to a roomier place") from None
    except ImageError:
        out.close()
        raise
    finally:
        fh.close()
    out.flush()
    out.seek(0)
    return out


def _elf(path: str, fh: IO[bytes], buf: Any) -> PhysicalMemory:
    n = len(buf)
    if n < 52:
        raise ImageError(f"{path}: truncated ELF header ({n} bytes)")
    ei_class, ei_data = buf[4], buf[5]
    if ei_data != ELFDATA2LSB:
        raise ImageError(f"{path}: big-endian ELF: x86 memory images are little-endian")
    if ei_class == ELFCLASS64:
        if n < 64:
            raise ImageError(f"{path}: truncated ELF64 header ({n} bytes)")
        e_type, = struct.unpack_from("<H", buf, 16)
        e_phoff, = struct.unpack_from("<Q", buf, 32)
        e_phentsize, e_phnum = struct.unpack_from("<HH", buf, 54)
        ph = struct.Struct("<IIQQQQQQ")  # type flags offset vaddr paddr filesz memsz align
    elif ei_class == ELFCLASS32:
        e_type, = struct.unpack_from("<H", buf, 16)
        e_phoff, = struct.unpack_from("<I", buf, 28)
        e_phentsize, e_phnum = struct.unpack_from("<HH", buf, 42)
        ph = struct.Struct("<IIIIIIII")  # type offset vaddr paddr filesz memsz flags align
    else:
        raise ImageError(f"{path}: ELF class {ei_class} is neither 32- nor 64-bit")
    if e_type != ET_CORE:
        raise ImageError(f"{path}: ELF type {e_type} is not a core dump (ET_CORE)")
    if e_phentsize < ph.size or e_phoff + e_phnum * e_phentsize > n:
        raise ImageError(f"{path}: program headers at {e_phoff:#x} ({e_phnum} x {e_phentsize} bytes) run past "
                         f"the end of the file ({n} bytes): truncated")
    segs: list[Segment] = []
    regs: list[CpuRegisters] = []
    info: dict[str, str] = {}
    for i in range(e_phnum):
        f = ph.unpack_from(buf, e_phoff + i * e_phentsize)
        if ei_class == ELFCLASS64:
            p_type, _, p_offset, _, p_paddr, p_filesz, _, _ = f
        else:
            p_type, p_offset, _, p_paddr, p_filesz, _, _, _ = f
        if p_type == PT_LOAD and p_filesz:
            if p_offset + p_filesz > n:
                raise ImageError(f"{path}: program header {i} (PT_LOAD paddr {p_paddr:#x}) ends at "
                                 f"{p_offset + p_filesz:#x}, past the end of the file ({n:#x}): truncated")
            segs.append(Segment(p_paddr, p_filesz, p_offset))
        elif p_type == PT_NOTE:
            if p_offset + p_filesz > n:
                raise ImageError(f"{path}: PT_NOTE {i} at {p_offset:#x} runs past the end of the file: truncated")
            _notes(path, bytes(buf[p_offset:p_offset + p_filesz]), regs, info)
    if not segs:
        raise ImageError(f"{path}: ELF core without PT_LOAD segments: no memory in it")
    return SegmentedMemory(path, "elf", buf, segs, regs, info, keep=[fh])


def _notes(path: str, data: bytes, regs: list[CpuRegisters], info: dict[str, str]) -> None:
    off, qemu, prstatus = 0, 0, 0
    while off + 12 <= len(data):
        namesz, descsz, ntype = struct.unpack_from("<III", data, off)
        name_at = off + 12
        desc_at = name_at + ((namesz + 3) & ~3)
        end = desc_at + ((descsz + 3) & ~3)
        if end > len(data) + 3:
            raise ImageError(f"{path}: ELF note at {off:#x} of a PT_NOTE runs past its segment: truncated")
        name = data[name_at:name_at + namesz].rstrip(b"\0")
        desc = data[desc_at:desc_at + descsz]
        if name == b"QEMU" and len(desc) >= QEMU_CR_OFFSET + 40:
            cr = struct.unpack_from("<5Q", desc, QEMU_CR_OFFSET)
            rip, = struct.unpack_from("<Q", desc, QEMU_RIP_OFFSET)
            regs.append(CpuRegisters(f"QEMU note {qemu}", qemu, cr0=cr[0], cr3=cr[3], cr4=cr[4], rip=rip))
            qemu += 1
        elif name == b"CORE" and ntype == NT_PRSTATUS and len(desc) >= PRSTATUS_REG_OFFSET + 27 * 8:
            pid, = struct.unpack_from("<i", desc, PRSTATUS_PID_OFFSET)
            rip, = struct.unpack_from("<Q", desc, PRSTATUS_REG_OFFSET + 8 * PRSTATUS_RIP_INDEX)
            regs.append(CpuRegisters(f"NT_PRSTATUS {prstatus}", prstatus, rip=rip, pid=pid))
            prstatus += 1
        elif name == b"VMCOREINFO":
            for line in desc.decode("latin-1").splitlines():
                k, sep, v = line.partition("=")
                if sep:
                    info[k.strip()] = v.strip()
        off = end


def _lime(path: str, fh: IO[bytes], buf: Any) -> PhysicalMemory:
    segs, off, n = [], 0, len(buf)
    while off < n:
        if off + LIME_HEADER.size > n:
            raise ImageError(f"{path}: LiME header at {off:#x} cut short ({n - off} bytes): truncated")
        magic, version, s_addr, e_addr = LIME_HEADER.unpack_from(buf, off)
        if magic != LIME_MAGIC:
            raise ImageError(f"{path}: no LiME header at {off:#x} (magic {magic:#010x}): damaged image")
        if version != 1:
            raise ImageError(f"{path}: LiME header at {off:#x} has version {version}, expected 1")
        if e_addr < s_addr:
            raise ImageError(f"{path}: LiME range at {off:#x} ends ({e_addr:#x}) before it starts ({s_addr:#x})")
        size = e_addr - s_addr + 1  # e_addr is inclusive
        off += LIME_HEADER.size
        if off + size > n:
            raise ImageError(f"{path}: LiME range {s_addr:#x}-{e_addr:#x} at {off:#x} needs {size:#x} bytes, "
                             f"the file has {n - off:#x}: truncated")
        segs.append(Segment(s_addr, size, off))
        off += size
    return SegmentedMemory(path, "lime", buf, segs, keep=[fh])


class DrgnMemory(PhysicalMemory):
    """A kdump-compressed vmcore read through drgn (the ``kdump`` extra)."""

    def __init__(self, path: str, drgn: Any) -> None:
        self.name, self.kind = path, "kdump (drgn)"
        self._fault = drgn.FaultError
        self._prog = drgn.Program()
        try:
            self._prog.set_core_dump(path)
        except Exception as e:  # drgn raises several kinds; one line for all
            raise ImageError(f"{path}: drgn cannot read this vmcore ({e})") from None

    def ranges(self) -> tuple[tuple[int, int], ...]:
        return ()  # drgn does not list a vmcore's physical ranges; read() says what is there

    def read(self, address: int, size: int) -> bytes | None:
        try:
            data: bytes = self._prog.read(address, size, True)
        except (self._fault, ValueError, OverflowError):
            return None
        return data


class KdumpfileMemory(PhysicalMemory):
    """A kdump-compressed vmcore read through libkdumpfile's Python bindings."""

    def __init__(self, path: str, kdumpfile: Any) -> None:
        self.name, self.kind = path, "kdump (libkdumpfile)"
        self._mod = kdumpfile
        try:
            self._ctx = kdumpfile.kdumpfile(path)
        except Exception as e:
            raise ImageError(f"{path}: libkdumpfile cannot read this vmcore ({e})") from None

    def ranges(self) -> tuple[tuple[int, int], ...]:
        return ()

    def read(self, address: int, size: int) -> bytes | None:
        try:
            data: bytes = self._ctx.read(self._mod.KDUMP_KPHYSADDR, address, size)
        except Exception:
            return None
        return data if len(data) == size else None


def open_kdump(path: str) -> PhysicalMemory:
    """A kdump-compressed (makedumpfile) vmcore: through drgn or libkdumpfile, whichever is installed."""
    for name, cls in (("drgn", DrgnMemory), ("kdumpfile", KdumpfileMemory)):
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        reader: PhysicalMemory = cls(path, mod)
        return reader
    raise ImageError(f"{path}: a kdump-compressed vmcore, which spte reads only through an optional "
                     f"library: {KDUMP_EXTRA}")


def stderr_progress(message: str) -> None:
    sys.stderr.write(f"spte: {message}\n")
    sys.stderr.flush()
