"""Decode benchmark: typed entries vs. hand-written mask-and-shift code, in one run.

Prints ratios (ours / hand-written); absolute times on a shared machine mean little.
Run: ``python bench/decode.py``.
"""

from __future__ import annotations

import random
import timeit

from spte import EptPte


class HandEptPte:
    """The equivalent hand-written class: one slot, constant masks and shifts."""

    __slots__ = ("value",)

    def __init__(self, value: int) -> None:
        self.value = value

    @property
    def read(self) -> int:
        return self.value & 1

    @property
    def write(self) -> int:
        return (self.value >> 1) & 1

    @property
    def memory_type(self) -> int:
        return (self.value >> 3) & 7


def hand_fields(v: int) -> dict[str, int]:
    """Hand-written code building the same mapping as EptPte.fields() (MAXPHYADDR 52)."""
    return {
        "read": v & 1, "write": (v >> 1) & 1, "execute": (v >> 2) & 1, "memory_type": (v >> 3) & 7,
        "ignore_pat": (v >> 6) & 1, "ignored_7": (v >> 7) & 1, "accessed": (v >> 8) & 1,
        "dirty": (v >> 9) & 1, "execute_user": (v >> 10) & 1, "ignored_11": (v >> 11) & 1,
        "frame": (v >> 12) & 0xFFFFFFFFFF, "ignored_52_56": (v >> 52) & 0x1F,
        "verify_guest_paging": (v >> 57) & 1, "paging_write": (v >> 58) & 1,
        "ignored_59": (v >> 59) & 1, "supervisor_shadow_stack": (v >> 60) & 1,
        "sub_page_write": (v >> 61) & 1, "ignored_62": (v >> 62) & 1, "suppress_ve": (v >> 63) & 1,
    }


def best(fn: object, number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=7))  # type: ignore[arg-type]


def main() -> None:
    values = [random.getrandbits(64) for _ in range(2000)]
    assert all(EptPte(v).fields() == hand_fields(v) for v in values[:50])

    def ours() -> None:
        for v in values:
            e = EptPte(v)
            e.read, e.write, e.memory_type  # noqa: B018

    def hand() -> None:
        for v in values:
            e = HandEptPte(v)
            e.read, e.write, e.memory_type  # noqa: B018

    def ours_fields() -> None:
        for v in values:
            EptPte(v).fields()

    def hand_fields_loop() -> None:
        for v in values:
            HandEptPte(v)
            hand_fields(v)

    n = 20
    r1 = best(ours, n) / best(hand, n)
    r2 = best(ours_fields, n) / best(hand_fields_loop, n)
    print(f"construct + 3 fields: {r1:.2f}x hand-written (target <= 2x)")
    print(f"construct + fields(): {r2:.2f}x hand-written (target <= 3x)")


if __name__ == "__main__":
    main()
