"""Bulk benchmark (issue 14 point 5): ``spte.decode_many`` on whole 512-entry EPT tables vs.
numpy masks written by hand for the same columns, in one run; plus the plain-Python path
and one ``decode()`` object per entry for scale.  Three input shapes (bench/inputs.py).

The hand-written side computes exactly the columns decode_many returns for an EPT PDE
table (both forms: PS picks the 2 MiB leaf), from constants typed in from the SDM figures.
Prints values per second and ratios (ours / hand-written time), worst first.
Run: ``python bench/columns.py [--tables N]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inputs import shapes

import spte
from spte.walker.columns import TABLE_ENTRIES


def hand_numpy(np: Any, v: Any) -> dict[str, Any]:
    """EPT PDE / 2 MiB PDE columns at MAXPHYADDR 52 without MBEC, masks typed in by hand (SDM Tables 29-4/29-5)."""
    u = np.uint64
    large = (v & u(0x80)) != 0
    one = u(1)
    out = {"value": v, "large": large, "read": v & one, "write": (v >> u(1)) & one, "execute": (v >> u(2)) & one}
    zero = u(0)
    out["reserved_3_6"] = np.where(large, zero, (v >> u(3)) & u(0xF))
    out["memory_type"] = np.where(large, (v >> u(3)) & u(7), zero)
    out["ignore_pat"] = np.where(large, (v >> u(6)) & one, zero)
    out["page_size"] = (v >> u(7)) & one
    out["accessed"] = (v >> u(8)) & one
    out["ignored_9_11"] = np.where(large, zero, (v >> u(9)) & u(7))
    out["dirty"] = np.where(large, (v >> u(9)) & one, zero)
    out["ignored_10_11"] = np.where(large, (v >> u(10)) & u(3), zero)
    out["reserved_12_20"] = np.where(large, (v >> u(12)) & u(0x1FF), zero)
    out["frame"] = np.where(large, (v >> u(21)) & u(0x7FFFFFFF), (v >> u(12)) & u(0xFFFFFFFFFF))
    out["ignored_52_62"] = (v >> u(52)) & u(0x7FF)
    out["suppress_ve"] = v >> u(63)
    address = np.where(large, v & u(0xFFFFFFFE00000), v & u(0xFFFFFFFFFF000))
    out["present"] = (v & u(7)) != 0
    out["address"] = address
    out["pfn"] = address >> u(12)
    out["reserved_bits"] = np.where(large, v & u(0x1FF000), v & u(0x78))
    return out


def best(fns: list[Callable[[], object]], repeat: int) -> list[float]:
    """Best time of each of ``fns``, run in turn ``repeat`` times (interleaved, so a burst of load
    on the shared machine hits all of them alike)."""
    t = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            t[i] = min(t[i], time.perf_counter() - t0)
    return t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tables", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    try:
        import numpy as np
    except ImportError:
        raise SystemExit("bench/columns.py compares against numpy: pip install 'spte-toolkit[numpy]'") from None
    n = args.tables * TABLE_ENTRIES
    rows = []
    for shape, values in shapes(n).items():
        raw = np.array(values, dtype=np.uint64).tobytes()
        tables = [raw[i * 8 * TABLE_ENTRIES:(i + 1) * 8 * TABLE_ENTRIES] for i in range(args.tables)]
        arrays = [np.frombuffer(t, dtype="<u8").astype(np.uint64) for t in tables]
        ours = spte.decode_many(tables[0], "ept", 2)
        hand = hand_numpy(np, arrays[0])
        assert ours.keys() == hand.keys(), ours.keys() ^ hand.keys()
        for name, col in hand.items():  # the same columns, value for value
            assert np.array_equal(np.asarray(ours[name], dtype=col.dtype), col), name
        first = values[:TABLE_ENTRIES * 4]
        scale = n / len(first)
        some = tables[: len(tables) // 10 or 1]  # the plain-Python path is slow: a tenth of the tables
        t_hand, t_np, t_py, t_obj = best([
            lambda a=arrays: [hand_numpy(np, x) for x in a],
            lambda t=tables: [spte.decode_many(x, "ept", 2) for x in t],
            lambda t=some: [spte.decode_many(x, "ept", 2, numpy=False) for x in t],
            lambda f=first: [spte.decode(v, "ept", 2).fields() for v in f]], args.repeat)
        t_py *= len(tables) / len(some)
        t_obj *= scale
        rows.append((t_np / t_hand, "decode_many (numpy) vs hand-written numpy masks", shape, n / t_np))
        rows.append((t_py / t_hand, "decode_many (plain Python) vs hand-written numpy masks", shape, n / t_py))
        rows.append((t_obj / t_hand, "decode(v).fields() per entry vs hand-written numpy masks", shape, n / t_obj))
        rows.append((1.0, "hand-written numpy masks", shape, n / t_hand))
    rows.sort(key=lambda r: -r[0])
    print(f"spte bulk benchmark ({args.tables} EPT PDE tables of {TABLE_ENTRIES} entries per shape, one call per "
          f"table, best of {args.repeat}; numpy {np.__version__}); worst first")
    print(f"{'row':58} {'input':11} {'ratio':>7} {'values/s':>12}")
    for ratio, name, shape, rate in rows:
        print(f"{name:58} {shape:11} {ratio:6.2f}x {rate:12,.0f}")


if __name__ == "__main__":
    main()
