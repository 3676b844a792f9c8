"""What the reader assumes about the machines a log comes from, and the adapters to the core.

Every call into the entry model and into owners goes through the few functions here
(:meth:`Context.entry`, :func:`read_owner`, :func:`owned_ignored_mask`), so that a change
of the core API is one change in this module.  Owners are anything that speaks the owner
protocol (:class:`~spte.metadata.owner.Owner`): a KVM profile, ``spte.owners.resolve("linux:6.12")``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from spte.bits import union
from spte.entry import CLASSES, Entry, canonical_format, decode, entry_class_for
from spte.metadata.owner import Owner
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


def read_owner(owner: Owner, value: int, level: int) -> OwnerView:
    """The owner protocol's ``read`` (:mod:`spte.metadata.owner`)."""
    r = owner.read(value, level)
    return OwnerView(r.kind, r.summary, dict(r.software), tuple(r.notes), r.plausible, tuple(r.reasons),
                     r.kind == "mmio")


def owned_ignored_mask(owner: Owner, entry_cls: type[Entry], platform: Platform) -> int:
    """Hardware-ignored bits the owner names: shown under the owner's names instead."""
    named = union(f.mask for state in ("present_leaf", "present_nonleaf", "not_present")
                  for f in owner.fields(state))
    return named & entry_cls.layout(platform).ignored_mask


@dataclass
class Context:
    """Formats and platforms of the machines behind a log.

    ``host_format``/``platform``/``kvm`` describe the KVM host (its SPTEs); ``guest_format``
    the guest whose walks KVM traces; ``linux_format`` the kernel of Linux oopses; Xen's
    own tables are x86-64 and its p2m EPT.
    """

    host_format: str = "ept"
    platform: Platform = field(default_factory=Platform)
    kvm: Owner | None = None
    # The owners of Linux's own entries (oops walks, bad page maps) and of Xen's (EPT walks,
    # PV page-table walks): spte.owners objects, or None for the hardware view only.
    linux: Owner | None = None
    xen: Owner | None = None
    guest_format: str = "x86-64"
    linux_format: str = "x86-64"
    other_platform: Platform = field(default_factory=Platform)
    formats: dict[str, str] = field(default_factory=dict, repr=False)
    _entries: dict[tuple[str, int, int, bool], Entry] = field(default_factory=dict, repr=False)
    _masks: dict[tuple[str, int, bool, bool], int] = field(default_factory=dict, repr=False)
    _ps: dict[tuple[str, int, bool], int] = field(default_factory=dict, repr=False)
    _owners: Callable[[], tuple[Owner | None, Owner | None]] | None = field(default=None, repr=False)

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

    def defer_owners(self, make: Callable[[], tuple[Owner | None, Owner | None]]) -> None:
        """Set ``linux``/``xen`` from ``make()`` when a Linux or Xen entry is first read."""
        self._owners = make

    def owner_object(self, owner: str, format: str) -> Owner | None:
        """The owner that reads ``format`` entries printed by ``owner`` (each reads its own format only)."""
        if self._owners is not None and owner in ("linux", "xen"):
            self.linux, self.xen = self._owners()
            self._owners = None
        obj = {"kvm": self.kvm, "linux": self.linux, "xen": self.xen}.get(owner)
        return obj if obj is not None and obj.format == format else None

    def has_level(self, format: str, level: int) -> bool:
        return format in CLASSES and level in CLASSES[format]

    def entry(self, value: int, format: str, level: int, owner: str) -> Entry:
        """The decoded entry (its class picked by PS where the level has large pages)."""
        key = (format, level, value, owner == "kvm")  # the KVM host's platform, or the other machines'
        e = self._entries.get(key)
        if e is None:
            if len(self._entries) > 1 << 14:
                self._entries.clear()
            e = decode(value, format, level, self.platform_for(owner))
            self._entries[key] = e
        return e

    def page_size_mask(self, format: str, level: int, owner: str) -> int:
        """The PS bit that selects the large form at ``level`` (0 where there is none)."""
        key = (format, level, owner == "kvm")
        m = self._ps.get(key)
        if m is None:
            table_cls, large_cls = CLASSES[format][level]
            m = self._ps[key] = table_cls.layout(self.platform_for(owner)).page_size_mask if large_cls else 0
        return m

    def address_mask(self, format: str, level: int, value: int, owner: str) -> int:
        """The address bits of ``value``'s class: what varies between otherwise equal entries."""
        platform = self.platform_for(owner)
        cls = entry_class_for(value, format, level, platform)
        key = (format, level, cls.LEAF, owner == "kvm")
        m = self._masks.get(key)
        if m is None:
            m = self._masks[key] = cls.layout(platform).address_mask
        return m
