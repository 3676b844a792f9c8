"""spte: bit-accurate x86 shadow/extended page-table entries and their software bits."""

from spte import images, kvm
from spte.bits import Field, FieldInfo, Layout, Role
from spte.entry import (
    CLASSES,
    FORMATS,
    Entry,
    EptPde,
    EptPde2M,
    EptPdpte,
    EptPdpte1G,
    EptPml4e,
    EptPml5e,
    EptPte,
    NptPde,
    NptPde2M,
    NptPdpte,
    NptPdpte1G,
    NptPml4e,
    NptPml5e,
    NptPte,
    PaePde,
    PaePde2M,
    PaePdpte,
    PaePte,
    Pde,
    Pde2M,
    Pde4M,
    Pde32,
    Pdpte,
    Pdpte1G,
    Pml4e,
    Pml5e,
    Problem,
    Pte,
    Pte32,
    decode,
    entry_class,
    levels_in_use,
)
from spte.metadata import STATES, TagCollision, TagLayout, TagSpec, allocate, free_bits
from spte.platform import Platform
from spte.walker import walk

__version__ = "0.1.0"

__all__ = [
    "CLASSES", "FORMATS", "Entry", "EptPde", "EptPde2M", "EptPdpte", "EptPdpte1G", "EptPml4e",
    "EptPml5e", "EptPte", "Field", "FieldInfo", "Layout", "NptPde", "NptPde2M", "NptPdpte",
    "NptPdpte1G", "NptPml4e", "NptPml5e", "NptPte", "PaePde", "PaePde2M", "PaePdpte", "PaePte",
    "Pde", "Pde2M", "Pde32", "Pde4M", "Pdpte", "Pdpte1G", "Platform", "Pml4e", "Pml5e",
    "Problem", "Pte", "Pte32", "Role", "STATES", "TagCollision", "TagLayout", "TagSpec", "__version__",
    "allocate", "decode", "entry_class", "free_bits", "images", "kvm", "levels_in_use", "walk",
]
