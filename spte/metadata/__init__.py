"""Software ("metadata") bits: which bits are free in each entry state, and a tag
allocator that proves its tags never collide with hardware, each other or an owner's bits."""

from spte.metadata.allocator import (
    BitOwner,
    Tag,
    TagCollision,
    TagLayout,
    TagSpec,
    allocate,
)
from spte.metadata.owner import Owner, Reading, SoftwareField
from spte.metadata.states import STATES, free_bits, hardware_owned, owner_of_bit

__all__ = [
    "STATES", "BitOwner", "Owner", "Reading", "SoftwareField", "Tag", "TagCollision", "TagLayout", "TagSpec",
    "allocate", "free_bits", "hardware_owned", "owner_of_bit",
]
