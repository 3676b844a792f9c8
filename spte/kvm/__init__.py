"""KVM profiles: what real Linux kernels do with SPTE software bits.

>>> p = profile("6.19", "ept-ad", l1tf=False)
>>> hex(p.shadow_mmio_value), hex(p.shadow_present_mask), hex(p.SHADOW_NONPRESENT_VALUE)
('0x6', '0x8000000000000000', '0x8000000000000000')
>>> p.is_shadow_present_pte(0x8600000001234b77), p.is_frozen_spte(0x80000000000005a0)
(True, True)
>>> p.classify(0x12300000feb0022e, 1).kind
'mmio'
"""

from __future__ import annotations

from spte.kvm.masks import HostConfig
from spte.kvm.profile import Classification, Description, KvmPreconditionError, KvmProfile
from spte.kvm.versions import ALIASES, FLAVOURS, SPECS, VERSIONS

__all__ = ["FLAVOURS", "VERSIONS", "Classification", "Description", "KvmPreconditionError", "KvmProfile",
           "profile"]

_CACHE: dict[tuple[object, ...], KvmProfile] = {}


def profile(version: str, flavour: str, *, maxphyaddr: int = 46, l1tf: bool | None = None,
            me_bit: int | None = None, phys_addr_reduction: int = 0, cache_bits: int | None = None,
            exec_only: bool = True, mmio_caching: bool = True) -> KvmProfile:
    """The profile of Linux ``version`` with MMU ``flavour`` on a given host.

    ``l1tf=None`` decides as the kernel would on a typical part of that vendor:
    X86_BUG_L1TF is assumed on Intel (``ept-*``, ``shadow``) and never on AMD (``npt``,
    or any flavour with ``me_bit``); the kernel then applies the mitigation masks only if
    ``x86_cache_bits < 47``.  ``me_bit``/``phys_addr_reduction`` describe an active
    SME C-bit (CPUID 0x8000001F EBX).
    """
    from spte.kvm.profile import PROFILE_CLASSES

    v = ALIASES.get(version.lstrip("v"), version.lstrip("v"))
    if v not in SPECS:
        raise ValueError(f"unknown kernel version {version!r}: expected one of "
                         f"{', '.join(VERSIONS)} or latest")
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown MMU flavour {flavour!r}: expected one of {', '.join(FLAVOURS)}")
    if not 32 <= maxphyaddr <= 52:
        raise ValueError(f"maxphyaddr={maxphyaddr} is outside 32..52")
    if me_bit is not None and flavour.startswith("ept"):
        raise ValueError("me_bit (the SME C-bit) applies to AMD hosts: flavour 'npt' or 'shadow'")
    if l1tf is None:
        l1tf = not (flavour == "npt" or me_bit is not None)
    host = HostConfig(flavour, maxphyaddr, l1tf, me_bit, phys_addr_reduction, cache_bits, exec_only,
                      mmio_caching)
    key = (v, host)
    if key not in _CACHE:
        _CACHE[key] = PROFILE_CLASSES[v](SPECS[v], host)
    return _CACHE[key]
