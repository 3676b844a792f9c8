"""Software ("metadata") bits: which bits are free in each entry state, and a tag
allocator that proves its tags never collide with hardware, each other or an owner's bits.

Names load on first use (PEP 562), as in :mod:`spte`: the readable view needs only
:mod:`spte.metadata.states`, not the allocator.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spte.metadata.allocator import BitOwner, Tag, TagCollision, TagLayout, TagSpec, allocate
    from spte.metadata.owner import Owner, Reading, SoftwareField
    from spte.metadata.states import STATES, free_bits, hardware_owned, owner_of_bit

_WHERE = {
    **dict.fromkeys(("BitOwner", "Tag", "TagCollision", "TagLayout", "TagSpec", "allocate"), "spte.metadata.allocator"),
    **dict.fromkeys(("Owner", "Reading", "SoftwareField"), "spte.metadata.owner"),
    **dict.fromkeys(("STATES", "free_bits", "hardware_owned", "owner_of_bit"), "spte.metadata.states"),
}

__all__ = [
    "STATES", "BitOwner", "Owner", "Reading", "SoftwareField", "Tag", "TagCollision", "TagLayout", "TagSpec",
    "allocate", "free_bits", "hardware_owned", "owner_of_bit",
]


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'spte.metadata' has no attribute {name!r}")
    value = getattr(importlib.import_module(where), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})
