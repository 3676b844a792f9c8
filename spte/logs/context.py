"""What the reader assumes about the machines a log comes from, and the adapters to the core.

Every call into the entry model and into owners goes through the few functions here
(:meth:`Context.entry`, :func:`read_owner`, :func:`owned_ignored_mask`), so that a change
of the core API is one change in this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from spte.bits import Role
from spte.entry import CLASSES, Entry, canonical_format, decode, entry_class
from spte.platform import Platform


@dataclass(frozen=True)
class OwnerView:
    """An owner's reading of one value, whichever protocol the owner speaks."""

    kind: str
    summary: str
    software: dict[str, int]
    notes: tuple[str, ...] = ()
    plausible: bool | None = None
    reasons: tuple[str, ...] = ()
    mmio: bool = False


def read_owner(owner: Any, value: int, level: int) -> OwnerView:
    """The owner protocol's ``read`` (spte.metadata.owner) where offered, else KVM's ``describe``."""
    if hasattr(owner, "read"):
        r = owner.read(value, level)
        return OwnerView(r.kind, r.summary, dict(r.software), tuple(r.notes), r.plausible, tuple(r.reasons),
                         r.kind == "mmio")
    d = owner.describe(value, level)
    return OwnerView(d.kind, d.summary, {k: v for k, v in d.software.items() if v}, tuple(d.notes),
                     mmio=d.kind == "mmio")


def owned_ignored_mask(owner: Any, entry_cls: type[Entry], platform: Platform) -> int:
    """Hardware-ignored bits the owner uses: shown under the owner's names instead."""
    layout = entry_cls.layout(platform)
    owned = 0
    if hasattr(owner, "owned_bits"):
        for state in ("present_leaf", "present_nonleaf", "not_present"):
            try:
                owned |= owner.owned_bits(state)
            except (KeyError, ValueError):
                continue
    elif hasattr(owner, "layout") and hasattr(owner.layout, "owned_mask"):
        owned = owner.layout.owned_mask
    return owned & layout.role_mask(Role.IGNORED)


def apply_owner_hook(owner_name: str, entry: Entry) -> Any:
    """Where a Linux or Xen owner object would read the entry (spte.owners, not there yet): None."""
    return None


@dataclass
class Context:
    """Formats and platforms of the machines behind a log.

    ``host_format``/``platform``/``kvm`` describe the KVM host (its SPTEs); ``guest_format``
    the guest whose walks KVM traces; ``linux_format`` the kernel of Linux oopses; Xen's
    own tables are x86-64 and its p2m EPT.
    """

    host_format: str = "ept"
    platform: Platform = field(default_factory=Platform)
    kvm: Any = None
    guest_format: str = "x86-64"
    linux_format: str = "x86-64"
    other_platform: Platform = field(default_factory=Platform)
    formats: dict[str, str] = field(default_factory=dict, repr=False)
    _entries: dict[tuple[str, int, int], Entry] = field(default_factory=dict, repr=False)
    _masks: dict[tuple[str, int, bool, bool], int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.host_format = canonical_format(self.host_format)
        self.guest_format = canonical_format(self.guest_format)
        self.linux_format = canonical_format(self.linux_format)
        # A printout's "table" word -> the entry format (other words name a format themselves).
        self.formats = {"host": self.host_format, "guest": self.guest_format, "linux": self.linux_format}

    def table_format(self, table: str) -> str:
        """The entry format a printout's ``table`` word names."""
        return self.formats.get(table, table)

    def platform_for(self, owner: str) -> Platform:
        return self.platform if owner == "kvm" else self.other_platform

    def owner_object(self, owner: str, format: str) -> Any:
        """The owner that reads ``format`` entries of ``owner`` (KVM's profile for its own format only)."""
        if owner == "kvm" and self.kvm is not None and getattr(self.kvm, "format", None) == format:
            return self.kvm
        return None

    def has_level(self, format: str, level: int) -> bool:
        return format in CLASSES and level in CLASSES[format]

    def entry(self, value: int, format: str, level: int, owner: str) -> Entry:
        """The decoded entry (its class picked by PS where the level has large pages)."""
        key = (format, level, value)
        e = self._entries.get(key)
        if e is None:
            if len(self._entries) > 1 << 14:
                self._entries.clear()
            e = decode(value, format, level, self.platform_for(owner))
            self._entries[key] = e
        return e

    def address_mask(self, format: str, level: int, value: int, owner: str) -> int:
        """The address bits of ``value``'s class: what varies between otherwise equal entries."""
        levels = CLASSES[format][level]
        large = levels[1] is not None and bool(value >> 7 & 1)
        key = (format, level, large, owner == "kvm")
        m = self._masks.get(key)
        if m is None:
            m = entry_class(format, level, large).layout(self.platform_for(owner)).address_mask
            self._masks[key] = m
        return m
