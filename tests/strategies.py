"""Hypothesis strategies that exercise every bit and every platform feature.

Values: bits 52-63 (where software, XD/SUPPRESS_VE and protection keys live) are set far
more often than uniform integers set them.  Platforms: every MAXPHYADDR 32-52 (the ends
explicitly), a C-bit at any legal position (its lowest, 12, and highest, MAXPHYADDR-1,
included), LA57, PSE off and every other switch.
"""

from __future__ import annotations

from hypothesis import strategies as st

from spte import Platform
from spte.platform import MAXPHYADDR_MAX, MAXPHYADDR_MIN

HIGH = 0xFFF0_0000_0000_0000  # bits 63:52

# st.integers rarely sets bits 52-63, where software bits live; 8 random bytes do, and the
# last three choices put those bits under direct pressure (all set, one set, few set).
u64 = st.one_of(
    st.binary(min_size=8, max_size=8).map(lambda b: int.from_bytes(b, "little")),
    st.integers(0, 2**64 - 1),
    st.lists(st.integers(0, 63), max_size=6).map(lambda bits: sum({1 << b for b in bits})),
    st.integers(0, 2**52 - 1).map(lambda v: v | HIGH),
    st.tuples(st.integers(0, 2**52 - 1), st.integers(52, 63)).map(lambda t: t[0] | 1 << t[1]),
    st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**12 - 1)).map(
        lambda t: (t[0] & ~HIGH) | t[1] << 52),
)

maxphyaddrs = st.one_of(st.sampled_from([MAXPHYADDR_MIN, 36, 39, 46, 48, MAXPHYADDR_MAX]),
                        st.integers(MAXPHYADDR_MIN, MAXPHYADDR_MAX))
SWITCHES = tuple(Platform().controls())


@st.composite
def _platforms(draw: st.DrawFn) -> Platform:
    m = draw(maxphyaddrs)
    c_bit = draw(st.one_of(st.none(), st.sampled_from([12, m - 1]), st.integers(12, m - 1)))
    switches = {name: draw(st.booleans()) for name in SWITCHES}
    return Platform(maxphyaddr=m, vendor=draw(st.sampled_from(["intel", "amd"])), c_bit=c_bit, **switches)


platforms = _platforms()
