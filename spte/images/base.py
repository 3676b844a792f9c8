"""The physical-memory reader interface every image reader implements.

A reader answers two questions: which physical ranges the image holds (:meth:`ranges`),
and what bytes sit at a physical address (:meth:`read`, ``None`` where any byte is absent,
so the walker can report "outside the image" instead of guessing).  CPU registers the image
records (ELF notes) come with it as :class:`CpuRegisters`.
"""

from __future__ import annotations

import bisect
import mmap
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Any


class ImageError(ValueError):
    """An image that cannot be read: the message is one line naming the file and the place."""


@dataclass(frozen=True)
class CpuRegisters:
    """Registers an image recorded for one CPU (the QEMU note, NT_PRSTATUS, VMCOREINFO)."""

    source: str  # e.g. "QEMU note 0" or "NT_PRSTATUS 0"
    cpu: int
    cr0: int | None = None
    cr3: int | None = None
    cr4: int | None = None
    rip: int | None = None
    pid: int | None = None
    extra: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Segment:
    """``size`` bytes of physical memory from ``start``, at ``offset`` in the backing buffer."""

    start: int
    size: int
    offset: int

    @property
    def end(self) -> int:
        return self.start + self.size


class PhysicalMemory:
    """Base of every reader: physical address -> bytes.  Use as a context manager."""

    name: str = "?"
    kind: str = "?"
    registers: tuple[CpuRegisters, ...] = ()
    vmcoreinfo: dict[str, str] = {}

    def ranges(self) -> tuple[tuple[int, int], ...]:
        """The (start, end) physical ranges present, end exclusive, sorted."""
        raise NotImplementedError

    def read(self, address: int, size: int) -> bytes | None:
        """``size`` bytes at ``address``, or None if any of them is not in the image."""
        raise NotImplementedError

    def contains(self, address: int, size: int = 1) -> bool:
        return self.read(address, size) is not None if size <= 4096 else all(
            self.read(a, min(4096, address + size - a)) is not None for a in range(address, address + size, 4096))

    def pages(self) -> Sequence[tuple[int, int]]:
        """Ranges rounded inwards to whole 4 KiB pages (what a page scan visits)."""
        out = []
        for s, e in self.ranges():
            s2, e2 = (s + 0xFFF) & ~0xFFF, e & ~0xFFF
            if e2 > s2:
                out.append((s2, e2))
        return out

    @property
    def size(self) -> int:
        return sum(e - s for s, e in self.ranges())

    def close(self) -> None:
        pass

    def __enter__(self) -> PhysicalMemory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SegmentedMemory(PhysicalMemory):
    """Physical memory laid out as segments of one buffer (an mmap of the file, or bytes).

    ELF cores, LiME dumps and raw images all reduce to this; reading never copies more
    than asked and never loads the file into memory.
    """

    def __init__(self, name: str, kind: str, buffer: Any, segments: Sequence[Segment],
                 registers: Sequence[CpuRegisters] = (), vmcoreinfo: dict[str, str] | None = None,
                 keep: Sequence[Any] = ()) -> None:
        self.name, self.kind = name, kind
        self._buf = buffer
        self._segs = sorted((s for s in segments if s.size > 0), key=lambda s: s.start)
        self._starts = [s.start for s in self._segs]
        self.registers = tuple(registers)
        self.vmcoreinfo = dict(vmcoreinfo or {})
        self._keep = list(keep)  # file objects the buffer depends on

    @property
    def segments(self) -> tuple[Segment, ...]:
        return tuple(self._segs)

    def ranges(self) -> tuple[tuple[int, int], ...]:
        out: list[tuple[int, int]] = []
        for s in self._segs:
            if out and out[-1][1] >= s.start:
                out[-1] = (out[-1][0], max(out[-1][1], s.end))
            else:
                out.append((s.start, s.end))
        return tuple(out)

    def read(self, address: int, size: int) -> bytes | None:
        i = bisect.bisect_right(self._starts, address) - 1
        if i < 0:
            return None
        seg = self._segs[i]
        rel = address - seg.start
        if rel + size <= seg.size:
            return bytes(self._buf[seg.offset + rel: seg.offset + rel + size])
        if rel >= seg.size:
            return None
        # Spans segments: only if they are physically contiguous.
        head = bytes(self._buf[seg.offset + rel: seg.offset + seg.size])
        rest = self.read(seg.end, size - len(head))
        return None if rest is None else head + rest

    def contains(self, address: int, size: int = 1) -> bool:
        i = bisect.bisect_right(self._starts, address) - 1
        while i >= 0 and i < len(self._segs):
            seg = self._segs[i]
            if not seg.start <= address < seg.end:
                return False
            if address + size <= seg.end:
                return True
            size -= seg.end - address
            address = seg.end
            i += 1
        return False

    def close(self) -> None:
        buf, self._buf = self._buf, b""
        if isinstance(buf, mmap.mmap):
            buf.close()
        for f in self._keep:
            f.close()
        self._keep = []


def map_file(fh: IO[bytes]) -> Any:
    """A read-only mmap of a file (an empty bytes object for an empty file)."""
    fh.seek(0, 2)
    if fh.tell() == 0:
        return b""
    return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
