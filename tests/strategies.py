"""Hypothesis strategies that exercise every bit, including the software-heavy 52..63."""

from __future__ import annotations

from hypothesis import strategies as st

from spte import Platform

# st.integers rarely sets bits 52-63, where software bits live; 8 random bytes do.
u64 = st.one_of(
    st.binary(min_size=8, max_size=8).map(lambda b: int.from_bytes(b, "little")),
    st.integers(0, 2**64 - 1),
    st.lists(st.integers(0, 63), max_size=6).map(lambda bits: sum({1 << b for b in bits})),
)

platforms = st.builds(
    Platform,
    maxphyaddr=st.integers(32, 52),
    vendor=st.sampled_from(["intel", "amd"]),
    nx=st.booleans(), gbpages=st.booleans(), pke=st.booleans(), pks=st.booleans(),
    hlat=st.booleans(), ept_ad=st.booleans(), ept_execute_only=st.booleans(),
    ept_mbec=st.booleans(), ept_ve=st.booleans(), ept_verify_guest_paging=st.booleans(),
    ept_paging_write=st.booleans(), ept_supervisor_shadow_stack=st.booleans(),
    ept_sub_page=st.booleans(), ept_2m=st.booleans(), ept_1g=st.booleans(),
)
