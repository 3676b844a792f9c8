"""The platform: MAXPHYADDR, vendor and the controls that change what a bit means.

A :class:`Platform` is an immutable, hashable value.  Every field table is resolved
against one, so the same declaration yields e.g. an EPT ``accessed`` flag with
EPTP[6]=1 and an ignored bit 8 without it.

>>> Platform().maxphyaddr
52
>>> Platform(maxphyaddr=46, vendor="amd").amd
True
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, NamedTuple

Vendor = Literal["intel", "amd"]

MAXPHYADDR_MIN = 32
MAXPHYADDR_MAX = 52  # architectural limit of 64-bit entries


class _Controls(NamedTuple):
    """The fields of :class:`Platform` (a named tuple rather than a dataclass: importing
    ``dataclasses`` costs a third of a single ``spte decode``'s start-up)."""

    maxphyaddr: int = 52
    vendor: Vendor = "intel"
    # Legacy paging controls.
    nx: bool = True  # EFER.NXE: bit 63 is XD, else reserved
    gbpages: bool = True  # CPUID.80000001H:EDX[26]: PDPTE PS=1 allowed
    la57: bool = False  # 5-level paging (CR4.LA57; for EPT a 5-level EPTP): level 5 is in use
    pke: bool = False  # CR4.PKE: bits 62:59 of user leaves are a protection key
    pks: bool = False  # CR4.PKS: same for supervisor leaves
    hlat: bool = False  # Intel HLAT paging: bit 11 is "restart"
    pse: bool = True  # CR4.PSE (32-bit paging): PDE PS=1 maps 4 MiB
    c_bit: int | None = None  # SME/SEV C-bit position (CPUID 0x8000001F EBX[5:0])
    # EPT controls and capabilities (IA32_VMX_EPT_VPID_CAP, EPTP, VM-execution controls).
    ept_ad: bool = True  # EPTP[6]: accessed/dirty flags
    ept_execute_only: bool = True  # cap bit 0: XWR=100 is legal
    ept_2m: bool = True  # cap bit 16: PDE PS=1 allowed
    ept_1g: bool = True  # cap bit 17: PDPTE PS=1 allowed
    ept_mbec: bool = False  # mode-based execute control: bit 10 is user-execute
    ept_ve: bool = True  # EPT-violation #VE: bit 63 is suppress-#VE
    ept_verify_guest_paging: bool = False  # bit 57 of leaves
    ept_paging_write: bool = False  # bit 58 of leaves
    ept_supervisor_shadow_stack: bool = False  # EPTP[7]: bit 60 of leaves
    ept_sub_page: bool = False  # SPP: bit 61 of PTEs


class Platform(_Controls):
    """CPU and VMCS state that decides which bits are hardware, reserved or ignored.

    The default is the most permissive modern Intel host: MAXPHYADDR 52 (so no
    physical-address bit is reserved), NX, 1 GiB pages, EPT A/D and execute-only
    support, everything optional (MBEC, HLAT, PKE/PKS, SPP, ...) off.
    """

    __slots__ = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> Platform:
        values = dict(zip(_FIELDS, args, strict=False))
        if len(args) > len(_FIELDS):
            raise TypeError(f"Platform takes at most {len(_FIELDS)} arguments ({len(args)} given)")
        for name, v in kwargs.items():
            if name not in _DEFAULTS:
                raise TypeError(f"Platform has no field {name!r}")
            if name in values:
                raise TypeError(f"Platform got two values for {name!r}")
            values[name] = v
        # Types first: Platform(nx="no") must not mean NX on, nor maxphyaddr=46.0 pass as 46.
        for name, v in values.items():
            if name in BOOL_CONTROLS:
                if type(v) is not bool:
                    raise TypeError(f"{name}={v!r}: expected True or False")
            elif name in ("maxphyaddr", "c_bit") and not (v is None and name == "c_bit"):
                values[name] = _exact_int(v, name)
        self = super().__new__(cls, **values)
        if not MAXPHYADDR_MIN <= self.maxphyaddr <= MAXPHYADDR_MAX:
            raise ValueError(
                f"maxphyaddr={self.maxphyaddr} is outside {MAXPHYADDR_MIN}..{MAXPHYADDR_MAX}"
            )
        if self.vendor not in ("intel", "amd"):
            raise ValueError(f"vendor={self.vendor!r}: expected 'intel' or 'amd'")
        if self.c_bit is not None and not 12 <= self.c_bit < self.maxphyaddr:
            raise ValueError(
                f"c_bit={self.c_bit} must be an address bit, 12..{self.maxphyaddr - 1}"
            )
        return self

    @property
    def amd(self) -> bool:
        return self.vendor == "amd"

    @property
    def pkeys(self) -> bool:
        """Protection keys are in use (CR4.PKE or CR4.PKS)."""
        return self.pke or self.pks

    def replace(self, **changes: Any) -> Platform:
        """A copy with ``changes``, checked as a new platform is."""
        return Platform(**{**self._asdict(), **changes})

    # The named tuple's own copy-makers, checked too (they would build an unchecked tuple).
    def _replace(self, **changes: Any) -> Platform:
        return self.replace(**changes)

    @classmethod
    def _make(cls, iterable: Iterable[Any]) -> Platform:  # type: ignore[override]  # checked, not generic
        return cls(*iterable)

    def for_npt(self) -> Platform:
        """The platform as an AMD NPT walk sees it: AMD, no HLAT, no PKS.

        KVM ignores protection keys for NPT walks (``kvm_init_shadow_npt_mmu``
        clears CR4.PKE), so PKE is dropped too.
        """
        return self.replace(vendor="amd", hlat=False, pks=False, pke=False)

    def controls(self) -> dict[str, bool]:
        """Every boolean switch, by name (used by docs and the CLI)."""
        return {name: getattr(self, name) for name in BOOL_CONTROLS}


def _exact_int(value: object, what: str) -> int:
    """An int given exactly (numpy integers included); bools, floats and strings are refused.
    (spte.bits.exact_int's rule; bits.py imports this module, so it cannot be imported here.)"""
    if isinstance(value, bool):
        raise TypeError(f"{what}={value!r}: a bool is not a number here")
    if isinstance(value, int):
        return int(value)
    index = getattr(type(value), "__index__", None)
    if index is None:
        raise TypeError(f"{what}={value!r}: expected an integer, got {type(value).__name__}")
    return int(index(value))


_FIELDS = _Controls._fields
_DEFAULTS = _Controls._field_defaults
BOOL_CONTROLS = tuple(name for name in _FIELDS if type(_DEFAULTS[name]) is bool)  # every boolean switch
DEFAULT_PLATFORM = Platform()
