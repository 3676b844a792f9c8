"""Xen as an owner of page-table bits: EPT p2m entries (``ept_entry_t``) and PV guests' PTEs.

EPT: ``ept_entry_t`` in ``xen/arch/x86/include/asm/hvm/vmx/vmx.h`` (``xen/include/asm-x86/
hvm/vmx/vmx.h`` before 4.17), ``p2m_type_t`` in ``asm/p2m.h``, ``p2m_access_t`` in
``xen/include/xen/p2m-common.h``.  Three layouts, from xen.git history:

* 4.10-4.15 (``RELEASE-4.14.0``): bit 62 ``tm`` (VT-d transient-mapping hint), access 61:58;
* 4.16-4.19 (``RELEASE-4.19.0``): 305c2c3abf8 drops ``tm``, bit 62 is ``_rsvd``;
* 4.20-4.22 (``RELEASE-4.20.0``): b94305d984f moves ``access`` to 62:59 and names bit 58
  ``pw`` (HLAT paging-write); ``p2m_access_r_pw`` (10) is new.

PV (``xen/arch/x86/include/asm/x86_64/page.h``): Xen's 24-bit PTE flags put flag bit 12 at
PTE bit 52 (``_PAGE_GUEST_KERNEL``, set in 64-bit PV guest-kernel mappings because those
have ``_PAGE_USER`` too) and flag bit 22 at PTE bit 62 (``_PAGE_GNTTAB``, debug builds).

>>> x = XenEptOwner(EPT_RELEASES["4.19"])
>>> r = x.read(0x9c000003000003f3, 3)
>>> r.kind, r.summary, r.software
('present_leaf', 'p2m_ram_rw p2m_access_rwx mfn 0x300000', {'access': 7})
"""

from __future__ import annotations

from dataclasses import dataclass

from spte.bits import genmask, union
from spte.entry import EptPte, Pte, decode
from spte.metadata.owner import Reading, SoftwareField
from spte.metadata.states import STATES
from spte.platform import Platform


def _ept(name: str) -> int:
    return EptPte.table_field(name).mask


# ept_entry_t's hardware fields, tied to the SDM table (bits 0-9 and 63).
assert _ept("read") == 1 << 0 and _ept("write") == 1 << 1 and _ept("execute") == 1 << 2  # r, w, x
assert _ept("memory_type") == genmask(5, 3)  # emt
assert _ept("ignore_pat") == 1 << 6  # ipat
assert _ept("accessed") == 1 << 8 and _ept("dirty") == 1 << 9  # a, d
assert _ept("suppress_ve") == 1 << 63  # suppress_ve
assert _ept("frame") == genmask(51, 12)  # mfn (MAXPHYADDR 52)
MTRR_NUM_TYPES = 7  # X86_MT_UCM: Xen writes it to emt to force a misconfig (recalculation pending)

# p2m_type_t (asm/p2m.h): the same 16 values in every release carried.
P2M_TYPES = ("p2m_ram_rw", "p2m_invalid", "p2m_ram_logdirty", "p2m_ram_ro", "p2m_mmio_dm", "p2m_mmio_direct",
             "p2m_populate_on_demand", "p2m_grant_map_rw", "p2m_grant_map_ro", "p2m_ram_paging_out",
             "p2m_ram_paged", "p2m_ram_paging_in", "p2m_ram_shared", "p2m_ram_broken", "p2m_map_foreign",
             "p2m_ioreq_server")
# p2m_access_t (xen/p2m-common.h): r = 1, w = 2, x = 4 combined; then the special ones.
P2M_ACCESS = ("p2m_access_n", "p2m_access_r", "p2m_access_w", "p2m_access_rw", "p2m_access_x",
              "p2m_access_rx", "p2m_access_wx", "p2m_access_rwx", "p2m_access_rx2rw", "p2m_access_n2rwx")


@dataclass(frozen=True)
class XenEptRelease:
    version: str
    first: tuple[int, int]  # first and last Xen release with this layout
    last: tuple[int, int]
    source: str
    fields: tuple[tuple[str, int, str], ...]  # (ept_entry_t field, mask, meaning): the software ones
    access_names: tuple[str, ...]


_COMMON = (("recalc", 1 << 10, "p2m type/access need recalculating (with emt = MTRR_NUM_TYPES)"),
           ("snp", 1 << 11, "VT-d snoop control when the EPT is shared with the IOMMU"),
           ("sa_p2mt", genmask(57, 52), "p2m_type_t of the gfn"))
_ACCESS_61_58 = ("access", genmask(61, 58), "p2m_access_t of the gfn")
EPT_RELEASES: dict[str, XenEptRelease] = {
    "4.14": XenEptRelease(
        "4.14", (4, 10), (4, 15), "Xen RELEASE-4.14.0 (same layout 4.10-4.15)",
        (*_COMMON, _ACCESS_61_58, ("tm", 1 << 62, "VT-d transient-mapping hint when the EPT is shared with the IOMMU")),
        P2M_ACCESS),
    "4.19": XenEptRelease(
        "4.19", (4, 16), (4, 19), "Xen RELEASE-4.19.0 (tm dropped by 305c2c3abf8, 4.16)",
        (*_COMMON, _ACCESS_61_58), P2M_ACCESS),
    "4.20": XenEptRelease(
        "4.20", (4, 20), (4, 22), "Xen RELEASE-4.20.0 (b94305d984f; same in 4.21, 4.22)",
        (*_COMMON, ("pw", 1 << 58, "HLAT paging-write access"), ("access", genmask(62, 59), "p2m_access_t of the gfn")),
        (*P2M_ACCESS, "p2m_access_r_pw")),
}


def ept_release(version: str) -> XenEptRelease:
    """The EPT layout of Xen ``version`` ("4.19", "4.17", "4.20.1", ...)."""
    try:
        major, minor = (int(p) for p in version.lstrip("v").split(".")[:2])
    except ValueError:
        raise ValueError(f"unknown Xen release {version!r}: expected e.g. 4.19 (4.10-4.22)") from None
    for r in EPT_RELEASES.values():
        if r.first <= (major, minor) <= r.last:
            return r
    raise ValueError(f"unknown Xen release {version!r}: carried are 4.10-4.22")


class XenEptOwner:
    """Xen's p2m as the owner of EPT entries' software bits (the owner protocol)."""

    format = "ept"

    def __init__(self, release: XenEptRelease, version: str | None = None) -> None:
        self.release = release
        self.version = version or release.version
        self.name = f"xen-{self.version}:ept"
        self.platform = Platform()
        fields = tuple(SoftwareField(n, m, STATES, meaning) for n, m, meaning in release.fields)
        self._fields = fields
        self._mask = {f.name: f.mask for f in fields}

    def __repr__(self) -> str:
        return f"<XenEptOwner {self.name}>"

    def describe_owner(self) -> str:
        """Where this owner's facts come from (one fact a line)."""
        r = self.release
        return "\n".join([
            f"{self.name}: Xen {self.version} p2m, EPT entries (ept_entry_t)",
            f"source: {r.source}; layout of Xen {r.first[0]}.{r.first[1]}-{r.last[0]}.{r.last[1]}",
            "software fields: " + ", ".join(f"{f.name} {f.bits_text}" for f in self._fields)])

    def fields(self, state: str) -> tuple[SoftwareField, ...]:
        _check_state(state)
        return self._fields

    def _rules(self, state: str) -> dict[int, str]:
        out: dict[int, str] = {}
        if state == "not_present":
            # ept_set_entry() (mm/p2m-ept.c) fills sp, sa_p2mt, access, snp, mfn, emt and ipat for
            # every valid mfn or P2M_INVALID_MFN_TYPES (PoD, paging, mmio_direct), whatever r/w/x.
            for b in range(3, 8):
                out[b] = "emt/ipat/sp kept in not-present p2m entries"
            for b in range(12, 52):
                out[b] = "mfn kept in not-present p2m entries"
        if state == "fault":
            for b in range(3, 6):
                out[b] = f"emt = MTRR_NUM_TYPES ({MTRR_NUM_TYPES}) marks a recalculation pending"
        return out

    def owned_bits(self, state: str) -> int:
        _check_state(state)
        return union(f.mask for f in self._fields) | union(1 << b for b in self._rules(state))

    def owner_of(self, bit: int, state: str) -> str | None:
        _check_state(state)
        for f in self._fields:
            if f.mask >> bit & 1:
                return f"{self.name}: ept_entry_t.{f.name} ({f.meaning})"
        why = self._rules(state).get(bit)
        return f"{self.name}: {why}" if why else None

    def p2m_type_name(self, t: int) -> str:
        return P2M_TYPES[t] if t < len(P2M_TYPES) else f"p2m type {t} (undefined)"

    def p2m_access_name(self, a: int) -> str:
        names = self.release.access_names
        return names[a] if a < len(names) else f"p2m access {a} (undefined)"

    def read(self, value: int, level: int) -> Reading:
        if not 0 <= value < 1 << 64:
            raise ValueError(f"{value:#x} does not fit in a 64-bit EPT entry")
        e = decode(value, "ept", level, self.platform)  # raises the error naming the levels
        sw = {f.name: f.get(value) for f in self._fields if f.get(value)}
        t = SoftwareField("sa_p2mt", self._mask["sa_p2mt"], ()).get(value)
        a = SoftwareField("access", self._mask["access"], ()).get(value)
        mfn, leaf = e.pfn, e.is_leaf
        # ept_entry_t's emt sits at bits 5:3 of every entry: Xen sets it to MTRR_NUM_TYPES in
        # non-leaf entries too, where those bits are reserved, to force a misconfiguration.
        emt = EptPte.table_field("memory_type").get(value)
        notes: list[str] = []
        reasons: list[str] = []
        if not e.present:
            kind, state = ("not_present" if value else "empty"), "not_present"
        elif emt == MTRR_NUM_TYPES:
            kind, state = "recalc", "fault"
            notes.append("emt = MTRR_NUM_TYPES: Xen forces an EPT misconfiguration to recalculate this entry")
        else:
            kind, state = ("present_leaf", "present_leaf") if leaf else ("present_nonleaf", "present_nonleaf")
        if t >= len(P2M_TYPES):
            reasons.append(f"sa_p2mt {t} is no p2m_type_t of Xen {self.version}")
        if a >= len(self.release.access_names):
            reasons.append(f"access {a} is no p2m_access_t of Xen {self.version}")
        summary = (f"{self.p2m_type_name(t)} {self.p2m_access_name(a)} mfn {mfn:#x}" if value
                   else "empty p2m entry")
        if value and not leaf and state != "not_present":
            summary = f"p2m table mfn {mfn:#x} ({self.p2m_access_name(a)})"
        return Reading(self.name, kind, state, summary, sw, tuple(notes), not reasons, tuple(reasons))


_PV_FIELDS = (
    ("_PAGE_GUEST_KERNEL", 1 << 52, "64-bit PV guest-kernel mapping (flag bit 12; user mappings have U too)"),
    ("_PAGE_GNTTAB", 1 << 62, "grant mapping (flag bit 22; debug builds only, 0 with NDEBUG)"),
)
# Xen's get_pte_flags() moves PTE bits 63:52 to flag bits 23:12: flag bit 23 is _PAGE_NX_BIT.
assert _PV_FIELDS[0][1] == 1 << (12 + 40) and Pte.layout(Platform()).by_name["execute_disable"].mask == 1 << (23 + 40)


class XenPvOwner:
    """The bits Xen itself keeps in a 64-bit PV guest's page-table entries (the owner protocol).

    The guest's own software bits (``_PAGE_AVAIL``, 9-11 and 52-62 in ``_PAGE_AVAIL_HIGH``)
    are the guest kernel's: check a PV Linux guest against ``linux:...`` as well.
    """

    format = "x86-64"

    def __init__(self, version: str) -> None:
        self.version = version
        self.name = f"xen-{version}:pv"
        self.platform = Platform()
        self._fields = tuple(SoftwareField(n, m, ("present_leaf", "fault"), meaning) for n, m, meaning in _PV_FIELDS)

    def __repr__(self) -> str:
        return f"<XenPvOwner {self.name}>"

    def describe_owner(self) -> str:
        """Where this owner's facts come from (one fact a line)."""
        return "\n".join([
            f"{self.name}: Xen {self.version}, bits Xen keeps in 64-bit PV guests' PTEs",
            "source: xen/arch/x86/include/asm/x86_64/page.h (xen/include/asm-x86/ before 4.17), 4.10-4.22",
            "software fields: " + ", ".join(f"{f.name} {f.bits_text}" for f in self._fields)])

    def fields(self, state: str) -> tuple[SoftwareField, ...]:
        _check_state(state)
        return self._fields if state in ("present_leaf", "fault") else ()

    def owned_bits(self, state: str) -> int:
        return union(f.mask for f in self.fields(state))

    def owner_of(self, bit: int, state: str) -> str | None:
        for f in self.fields(state):
            if f.mask >> bit & 1:
                return f"{self.name}: {f.name} ({f.meaning})"
        return None

    def read(self, value: int, level: int) -> Reading:
        if not 0 <= value < 1 << 64:
            raise ValueError(f"{value:#x} does not fit in a 64-bit entry")
        e = decode(value, "x86-64", level, self.platform)
        present, leaf = e.present, e.is_leaf
        state = ("present_leaf" if leaf else "present_nonleaf") if present else "not_present"
        sw = {f.name: f.get(value) for f in self.fields(state) if f.get(value)}
        who = "guest kernel" if sw.get("_PAGE_GUEST_KERNEL") else "guest user" if e.user else "guest"
        summary = f"{who} mapping mfn {e.pfn:#x}" if present else "not present"
        return Reading(self.name, state, state, summary, sw, (), None)


def _check_state(state: str) -> None:
    if state not in STATES:
        raise ValueError(f"unknown state {state!r}: expected one of {', '.join(STATES)}")
