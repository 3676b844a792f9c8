"""Owners of software bits besides KVM: Linux mm (its own page tables) and Xen (EPT p2m
entries, PV guests' page tables), behind the owner protocol of :mod:`spte.metadata.owner`.

:func:`resolve` turns a spec into an owner:

* ``linux:<version>[:<format>][:<kinds>]`` -- any kernel version string
  (:func:`spte.owners.linux.resolve_release`: ``6.8``, ``6.12.5``, ``6.8.0-45-generic``,
  ``latest``...) mapped to the row whose layout it has; format ``x86-64`` (default), ``pae``
  or ``x86-32``; kinds narrow the not-present state to ``swap`` or ``prot_none`` entries;
* ``xen:<release>[:ept|:pv]`` -- EPT p2m entries (default) or PV guest PTEs;
* ``kvm:<release>[:<flavour>]`` -- :func:`spte.kvm.profile` (flavour ``ept-ad`` by default);
* several specs joined by commas -- :class:`Combined`, e.g. a PV Linux guest under Xen:
  ``linux:6.12,xen:4.19:pv``.

>>> resolve("linux:6.12").name, resolve("linux:4.19:pae").format, resolve("xen:4.19:ept").name
('linux-6.12', 'pae', 'xen-4.19:ept')
>>> resolve("linux:6.12:swap").name
'linux-6.12:swap'
>>> o = resolve("linux:6.8.0-45-generic")
>>> o.name, o.release.version, o.cautions[0][:40]
('linux-6.8', '6.12', '6.8.0-45-generic is a Ubuntu kernel: ven')
>>> resolve("linux:6.12,xen:4.19:pv").owner_of(52, "present_leaf")
'xen-4.19:pv: _PAGE_GUEST_KERNEL (64-bit PV guest-kernel mapping ...)'
"""

from __future__ import annotations

from typing import Any

from spte.bits import union
from spte.metadata.owner import Reading, SoftwareField
from spte.owners.linux import FORMATS as LINUX_FORMATS
from spte.owners.linux import RELEASES as LINUX_RELEASES
from spte.owners.linux import LinuxOwner, LinuxRelease, resolve_release
from spte.owners.xen import EPT_RELEASES as XEN_RELEASES
from spte.owners.xen import XenEptOwner, XenPvOwner, ept_release

__all__ = ["KNOWN", "LINUX_RELEASES", "XEN_RELEASES", "Combined", "LinuxOwner", "LinuxRelease", "XenEptOwner",
           "XenPvOwner", "resolve"]

KNOWN = ("linux:<4.14|4.17-6.14|6.17-7.1, e.g. 6.8.0-45-generic>[:" + "|".join(LINUX_FORMATS) + "][:swap|prot_none]",
         "xen:4.10-4.22[:ept|pv]", "kvm:<version>[:<flavour>]", "several joined by ','")


class Combined:
    """Several owners of the same entries: a new tag must avoid all of them.

    The first owner reads a value; the others add their fields and notes.
    """

    def __init__(self, *owners: Any) -> None:
        if len(owners) < 2:
            raise ValueError("Combined needs at least two owners")
        formats = {o.format for o in owners}
        if len(formats) > 1:
            raise ValueError(f"owners {', '.join(o.name for o in owners)} describe different formats "
                             f"({', '.join(sorted(formats))})")
        self.owners = owners
        self.name = "+".join(o.name for o in owners)
        self.format = owners[0].format
        self.platform = owners[0].platform

    def __repr__(self) -> str:
        return f"<Combined {self.name}>"

    def fields(self, state: str) -> tuple[SoftwareField, ...]:
        return tuple(f for o in self.owners for f in o.fields(state))

    def owned_bits(self, state: str) -> int:
        return union(o.owned_bits(state) for o in self.owners)

    def owner_of(self, bit: int, state: str) -> str | None:
        return next((who for o in self.owners if (who := o.owner_of(bit, state))), None)

    def read(self, value: int, level: int) -> Reading:
        first, *rest = (o.read(value, level) for o in self.owners)
        software = dict(first.software)
        notes = list(first.notes)
        for r in rest:
            software.update({k: v for k, v in r.software.items() if k not in software})
            notes += [f"{r.owner}: {n}" for n in r.notes]
        return Reading(self.name, first.kind, first.state, first.summary, software, tuple(notes),
                       first.plausible, first.reasons)


def _bad(spec: str, why: str) -> ValueError:
    return ValueError(f"unknown owner {spec!r}: {why}; known owners: {', '.join(KNOWN)}")


def resolve(spec: str) -> Any:
    """The owner named by ``spec`` (see the module docstring); a ValueError names what is known.

    The result implements :class:`spte.metadata.owner.Owner` (a KVM profile is returned as
    :func:`spte.kvm.profile` builds it).
    """
    if "," in spec:
        return Combined(*(resolve(p) for p in spec.split(",")))
    parts = [p.strip() for p in spec.strip().split(":")]
    who, rest = parts[0].lower(), parts[1:]
    if not rest or not rest[0]:
        raise _bad(spec, "no release given")
    version = rest[0].lstrip("v")
    if who == "linux":
        try:
            found = resolve_release(rest[0])
        except ValueError as e:
            raise _bad(spec, str(e)) from None
        fmt, kinds = "x86-64", tuple(LinuxOwner.KINDS)
        for p in rest[1:]:
            if p in LINUX_FORMATS:
                fmt = p
            elif all(k in LinuxOwner.KINDS for k in p.split("+")):
                kinds = tuple(p.split("+"))
            else:
                raise _bad(spec, f"{p!r} is neither a format ({', '.join(LINUX_FORMATS)}) nor a kind "
                                 f"({', '.join(LinuxOwner.KINDS)})")
        try:
            return LinuxOwner(found.row, fmt, kinds, found)
        except ValueError as e:
            raise _bad(spec, str(e)) from None
    if who == "xen":
        flavour = rest[1] if len(rest) > 1 else "ept"
        if len(rest) > 2 or flavour not in ("ept", "pv"):
            raise _bad(spec, f"Xen flavour {':'.join(rest[1:])!r} is not ept or pv")
        try:
            release = ept_release(version)
        except ValueError as e:
            raise _bad(spec, str(e)) from None
        return XenEptOwner(release, version) if flavour == "ept" else XenPvOwner(version)
    if who == "kvm":
        import spte.kvm

        flavour = rest[1] if len(rest) > 1 else "ept-ad"
        try:
            return spte.kvm.profile(version, flavour)
        except ValueError as e:
            raise _bad(spec, str(e)) from None
    raise _bad(spec, f"no owner called {parts[0]!r}")
