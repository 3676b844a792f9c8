"""Kernel version strings as users hold them: ``uname -r``, a tag, a distribution's package.

The one parser of version strings, shared by every owner that has releases (KVM, Linux mm).

>>> parse_version("6.8.0-45-generic")
KernelVersion(major=6, minor=8, sub=0, rc=False, rest='-45-generic', distro='Ubuntu')
>>> parse_version("v6.19-rc3").rc, parse_version("5.14.0-427.13.1.el9_4.x86_64").distro
(True, 'RHEL/CentOS')
"""

from __future__ import annotations

import re
from typing import NamedTuple

# Suffix words that name the distribution a kernel package comes from.
DISTROS = (("el", "RHEL/CentOS"), ("generic", "Ubuntu"), ("lowlatency", "Ubuntu"), ("amd64", "Debian"),
           ("cloud", "Debian"), ("azure", "Ubuntu"), ("aws", "Ubuntu"), ("gcp", "Ubuntu"), ("fc", "Fedora"),
           ("default", "SUSE"), ("arch", "Arch Linux"), ("uek", "Oracle"))
VERSION = re.compile(r"v?(?P<major>\d+)\.(?P<minor>\d+)(?:\.(?P<sub>\d+))?(?P<rc>-rc\d+)?(?P<rest>\S*)")


class KernelVersion(NamedTuple):
    major: int
    minor: int
    sub: int | None  # the stable point release (a distribution's sublevel is its own)
    rc: bool
    rest: str  # what follows the upstream version ("-45-generic")
    distro: str | None  # the distribution the suffix names, "distribution" if unknown; None upstream


def parse_version(text: str) -> KernelVersion:
    """Parse a version string; :class:`ValueError` if it is none."""
    m = VERSION.fullmatch(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not a kernel version (e.g. 6.12, 6.12.5, v6.19-rc3, 6.8.0-45-generic)")
    rest = m["rest"] or ""
    distro = next((name for tag, name in DISTROS if tag in rest.lower()), "distribution") if rest else None
    sub = int(m["sub"]) if m["sub"] is not None else None
    return KernelVersion(int(m["major"]), int(m["minor"]), sub, bool(m["rc"]), rest, distro)
