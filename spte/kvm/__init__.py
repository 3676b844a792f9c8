"""KVM profiles: what real Linux kernels (5.4 to 7.1) do with SPTE software bits.

>>> p = profile("6.19", "ept-ad", l1tf=False)
>>> hex(p.shadow_mmio_value), hex(p.shadow_present_mask), hex(p.SHADOW_NONPRESENT_VALUE)
('0x6', '0x8000000000000000', '0x8000000000000000')
>>> p.is_shadow_present_pte(0x8600000001234b77), p.is_frozen_spte(0x80000000000005a0)
(True, True)
>>> p.classify(0x12300000feb0022e, 1).kind
'mmio'
>>> profile("6.12.5", "ept-noad").change_point, profile("5.4.286", "shadow").change_point
('6.11', '5.4.85')
"""

from __future__ import annotations

from spte.kvm.analysis import KINDS, Classification, Description
from spte.kvm.candidates import Candidate, auto_profile, identify, identify_all
from spte.kvm.helpers import KvmPreconditionError, legacy_is_shadow_present_pte
from spte.kvm.masks import HostConfig, Masks
from spte.kvm.owner import Transition
from spte.kvm.profiles import KvmProfile, profile
from spte.kvm.releases import CHANGE_POINTS, FLAVOURS, RELEASES, SPECS, VERSIONS, KernelSpec, Resolution, resolve

__all__ = ["CHANGE_POINTS", "FLAVOURS", "KINDS", "RELEASES", "SPECS", "VERSIONS", "Candidate", "Classification",
           "Description", "HostConfig", "KernelSpec", "KvmPreconditionError", "KvmProfile", "Masks", "Resolution",
           "Transition", "auto_profile", "identify", "identify_all", "legacy_is_shadow_present_pte", "profile",
           "resolve"]
