"""A KVM profile: one kernel release + MMU flavour + host, assembled from the parts with
one job each -- the masks (:mod:`spte.kvm.masks`), the kernel's helpers with the release's
mixins (:mod:`spte.kvm.helpers`), analysis (:mod:`spte.kvm.analysis`) and the owner side
(:mod:`spte.kvm.owner`)."""

from __future__ import annotations

from typing import Any, Literal

from spte.kvm import masks as K
from spte.kvm.analysis import Analysis
from spte.kvm.helpers import MIXINS, KvmHelpers
from spte.kvm.masks import HostConfig
from spte.kvm.owner import OwnerSide
from spte.kvm.releases import FLAVOURS, KernelSpec, resolve
from spte.metadata import TagLayout
from spte.metadata.owner import register_patterns
from spte.platform import Platform


class KvmProfile(OwnerSide, Analysis, KvmHelpers):
    """Base profile; the release-specific helper names come from the mixins of its class."""

    def __init__(self, spec: KernelSpec, host: HostConfig, release: str | None = None,
                 cautions: tuple[str, ...] = ()) -> None:
        KvmHelpers.__init__(self, spec, host)
        self.version = release or spec.key
        self.change_point = spec.key
        self.cautions = cautions
        self.flavour = host.flavour
        self.name = f"kvm-{self.version}:{host.flavour}"
        self.format = "ept" if host.ept else "pae" if host.pae else "npt" if host.flavour == "npt" else "x86-64"
        self.platform = _platform(host)
        self.layout: TagLayout = self._build_layout()
        self._check_static_asserts()

    def __repr__(self) -> str:
        return f"<KvmProfile {self.name} ({self.change_point}) maxphyaddr={self.host.maxphyaddr}>"

    # A profile is a value: the release, its change point and the host decide everything in it.
    def _identity(self) -> tuple[object, ...]:
        return (self.version, self.change_point, self.host)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KvmProfile) and self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def __reduce__(self) -> tuple[Any, ...]:
        return (_unpickle, (self.version, self.host))

    def describe_profile(self) -> str:
        h = self.host
        l1tf = ", L1TF mitigation on" if self.masks.shadow_nonpresent_or_rsvd_mask else ""
        lines = [f"{self.name}: Linux {self.version} (change point {self.change_point}), {self.flavour} MMU, "
                 f"MAXPHYADDR {h.maxphyaddr}{l1tf}"
                 f"{f', SME C-bit {h.me_bit}, x86_phys_bits {h.x86_phys_bits}' if h.sme else ''}",
                 f"defined by: {self.spec.change}", f"source: {self.spec.source}"]
        lines += [f"note: {n}" for n in self.spec.notes]
        lines += [f"caution: {c}" for c in self.cautions]
        lines += [f"{k} = {v:#x}" for k, v in self.masks.as_dict().items()]
        return "\n".join(lines)

    def _check_static_asserts(self) -> None:
        """spte.h's static_asserts and mask sanity checks, on this host's masks."""
        m = self.masks
        if self.spec.mmu_present:
            assert not K.SPTE_MMU_PRESENT_MASK & self.gen.mask
            if self.frozen_value is not None:
                assert not self.frozen_value & K.SPTE_MMU_PRESENT_MASK
                assert not (m.enable_mmio_caching and self.is_mmio_spte(self.frozen_value))
            assert not m.shadow_mmio_value & K.SPTE_MMU_PRESENT_MASK
            assert (m.shadow_host_writable_mask | m.shadow_mmu_writable_mask) & K.SPTE_TDP_AD_MASK == 0


# decode --kvm --line and the log reader read a profile from its patterns (spte.kvm.patterns).
register_patterns(KvmProfile, KvmProfile._patterns)


def _platform(host: HostConfig) -> Platform:
    """The hardware a profile's SPTEs are walked by.  With SME active the usable physical
    address bits are x86_phys_bits (MAXPHYADDR minus CPUID 0x8000001F EBX[11:6]): the bits
    above are reserved in page tables, except the C-bit, which may lie at or above them."""
    vendor: Literal["intel", "amd"] = "amd" if host.flavour == "npt" or host.sme else "intel"
    try:
        c_bit = host.me_bit if host.sme else None
        return Platform(maxphyaddr=host.x86_phys_bits, vendor=vendor, c_bit=c_bit, ept_ad=host.flavour == "ept-ad",
                        ept_execute_only=host.exec_only)
    except ValueError:  # a C-bit at or above the usable bits: the Platform cannot say so yet
        return Platform(maxphyaddr=host.x86_phys_bits, vendor=vendor, ept_ad=host.flavour == "ept-ad",
                        ept_execute_only=host.exec_only)


def _profile_class(spec: KernelSpec) -> type[KvmProfile]:
    bases = tuple(MIXINS[h] for h in spec.helpers)
    return type(f"Kvm_{spec.key.replace('.', '_')}", (*bases, KvmProfile), {})


PROFILE_CLASSES: dict[str, type[KvmProfile]] = {}
_CACHE: dict[tuple[object, ...], KvmProfile] = {}


def profile(version: str, flavour: str, *, maxphyaddr: int = 46, l1tf: bool | None = None,
            me_bit: int | None = None, phys_addr_reduction: int = 0, cache_bits: int | None = None,
            exec_only: bool = True, mmio_caching: bool = True, format: str | None = None) -> KvmProfile:
    """The profile of Linux ``version`` (any version string) with MMU ``flavour`` on a host.

    ``l1tf=None`` decides as the kernel would on a typical part of that vendor:
    X86_BUG_L1TF is assumed on Intel (``ept-*``, ``shadow``) and never on AMD (``npt``,
    or any flavour with ``me_bit``); the kernel then applies the mitigation masks only if
    ``x86_cache_bits < 47``.  ``me_bit``/``phys_addr_reduction`` describe an active SME
    C-bit (CPUID 0x8000001F EBX); ``cache_bits`` is ``boot_cpu_data.x86_cache_bits``.
    ``format="pae"`` is a 32-bit host (shadow or NPT flavour): PAE-format tables, the four
    PAE roots KVM keeps at level 3, and no SHADOW_NONPRESENT_VALUE.
    """
    r = resolve(version)
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown MMU flavour {flavour!r}: expected one of {', '.join(FLAVOURS)}")
    if not 32 <= maxphyaddr <= 52:
        raise ValueError(f"maxphyaddr={maxphyaddr} is outside 32..52")
    if me_bit is not None and flavour.startswith("ept"):
        raise ValueError("me_bit (the SME C-bit) applies to AMD hosts: flavour 'npt' or 'shadow'")
    if me_bit is not None and not 12 <= me_bit <= 51:
        raise ValueError(f"me_bit={me_bit} is not an address bit (12..51)")
    if not 0 <= phys_addr_reduction < maxphyaddr - 12:
        raise ValueError(f"phys_addr_reduction={phys_addr_reduction} leaves no address bits")
    if cache_bits is not None and not 32 <= cache_bits <= 52:
        raise ValueError(f"cache_bits={cache_bits} is outside 32..52")
    pae = format == "pae"
    if format not in (None, "pae", "ept" if flavour.startswith("ept") else "npt" if flavour == "npt" else "x86-64"):
        raise ValueError(f"format {format!r} does not fit flavour {flavour!r} (32-bit hosts: 'pae' with "
                         "'shadow' or 'npt')")
    if pae and flavour.startswith("ept"):
        raise ValueError("EPT tables are 4-level on every host: format 'pae' needs flavour 'shadow' or 'npt'")
    if l1tf is None:
        l1tf = not (flavour == "npt" or me_bit is not None)
    host = HostConfig(flavour, maxphyaddr, l1tf, me_bit, phys_addr_reduction, cache_bits, exec_only, mmio_caching,
                      pae)
    key = (r.release, r.spec.key, host, r.cautions)
    if key not in _CACHE:
        cls = PROFILE_CLASSES.get(r.spec.key)
        if cls is None:
            cls = PROFILE_CLASSES[r.spec.key] = _profile_class(r.spec)
        _CACHE[key] = cls(r.spec, host, r.release, r.cautions)
    return _CACHE[key]


def _unpickle(version: str, host: HostConfig) -> KvmProfile:
    """A pickled profile comes back through profile() (and its cache)."""
    return profile(version, host.flavour, maxphyaddr=host.maxphyaddr, l1tf=host.l1tf, me_bit=host.me_bit,
                   phys_addr_reduction=host.phys_addr_reduction, cache_bits=host.cache_bits,
                   exec_only=host.exec_only, mmio_caching=host.mmio_caching, format="pae" if host.pae else None)
