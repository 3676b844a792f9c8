"""Physical-memory images: ELF cores, LiME, raw, compressed; kdump-compressed via an extra.

>>> import spte.images
>>> callable(spte.images.open)
True
"""

from __future__ import annotations

from collections.abc import Callable

from spte.images.base import CpuRegisters, ImageError, PhysicalMemory, Segment, SegmentedMemory
from spte.images.readers import open_image, open_kdump


def open(path: str, *, base: int | None = None, format: str | None = None,
         progress: Callable[[str], None] | None = None) -> PhysicalMemory:
    """Open a memory image (see :func:`spte.images.readers.open_image`)."""
    return open_image(path, base=base, format=format, progress=progress)


__all__ = ["CpuRegisters", "ImageError", "PhysicalMemory", "Segment", "SegmentedMemory", "open", "open_image",
           "open_kdump"]
