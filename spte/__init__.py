"""spte: bit-accurate x86 shadow/extended page-table entries and their software bits.

Names load on first use (PEP 562 ``__getattr__``): ``import spte`` is cheap, so a single
``spte decode VALUE`` pays only for what it uses; owners, the allocator, walkers and image
readers load when something names them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names below, for type checkers; at run time they load on first use
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
    from spte.walker.columns import decode_many as decode_many

__version__ = "0.1.0"

# name -> the module that defines it (a module itself when the name is a submodule).
_WHERE = {
    **dict.fromkeys(("images", "kvm", "owners"), ""),
    **dict.fromkeys(("Field", "FieldInfo", "Layout", "Role"), "spte.bits"),
    **dict.fromkeys((
        "CLASSES", "FORMATS", "Entry", "EptPde", "EptPde2M", "EptPdpte", "EptPdpte1G", "EptPml4e", "EptPml5e",
        "EptPte", "NptPde", "NptPde2M", "NptPdpte", "NptPdpte1G", "NptPml4e", "NptPml5e", "NptPte", "PaePde",
        "PaePde2M", "PaePdpte", "PaePte", "Pde", "Pde2M", "Pde4M", "Pde32", "Pdpte", "Pdpte1G", "Pml4e", "Pml5e",
        "Problem", "Pte", "Pte32", "decode", "entry_class", "levels_in_use"), "spte.entry"),
    **dict.fromkeys(("STATES", "TagCollision", "TagLayout", "TagSpec", "allocate", "free_bits"), "spte.metadata"),
    "Platform": "spte.platform",
    "walk": "spte.walker",
    "decode_many": "spte.walker.columns",
}

__all__ = [
    "CLASSES", "FORMATS", "Entry", "EptPde", "EptPde2M", "EptPdpte", "EptPdpte1G", "EptPml4e",
    "EptPml5e", "EptPte", "Field", "FieldInfo", "Layout", "NptPde", "NptPde2M", "NptPdpte",
    "NptPdpte1G", "NptPml4e", "NptPml5e", "NptPte", "PaePde", "PaePde2M", "PaePdpte", "PaePte",
    "Pde", "Pde2M", "Pde32", "Pde4M", "Pdpte", "Pdpte1G", "Platform", "Pml4e", "Pml5e",
    "Problem", "Pte", "Pte32", "Role", "STATES", "TagCollision", "TagLayout", "TagSpec", "__version__",
    "allocate", "decode", "decode_many", "entry_class", "free_bits", "images", "kvm", "levels_in_use", "owners",
    "walk",
]


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'spte' has no attribute {name!r}")
    value = importlib.import_module(f"spte.{name}") if not where else getattr(importlib.import_module(where), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})
