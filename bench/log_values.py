"""Per-value cost of the log reader's readings (``spte trace``): ``Renderer.texter`` (the
annotation) and ``Renderer.entry_json_tail`` (the JSON record's tail), on random words and
KVM-shaped SPTEs at levels 1-4, for a 6.19 shadow x86-64 host (MAXPHYADDR 48) and a 6.19 EPT
A/D host.  The baseline, measured in the same run, is the object path the tests compare with
(``Renderer.reference_text`` / ``reference_json_tail``: the entry object and the owner's full
``read``).  Each configuration gets a fresh renderer, a warm-up on other values (the tables
fill on first use), then ``N`` values it has not seen.

    python -m bench.log_values [N]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from bench.inputs import kvm_shaped, random_words
from spte.kvm import profile
from spte.logs.context import Context
from spte.logs.records import Record
from spte.logs.render import Renderer

WARM = 60000  # values of the same shape first: the tables fill on first use (steady state is measured)
HOSTS: dict[str, tuple[str, str, dict[str, int]]] = {
    "x86-64 6.19:shadow M48": ("6.19", "shadow", {"maxphyaddr": 48}), "ept 6.19:ept-ad": ("6.19", "ept-ad", {})}


def per_value(fn: Callable[[int], object], values: list[int], runs: int = 3) -> float:
    """The best of ``runs`` passes over disjoint slices of ``values`` (the machine is shared;
    no value is seen twice, so no memo of whole values flatters)."""
    best = float("inf")
    size = len(values) // runs
    for i in range(runs):
        part = values[i * size:(i + 1) * size]
        start = time.perf_counter()
        for v in part:
            fn(v)
        best = min(best, (time.perf_counter() - start) / len(part) * 1e6)
    return best


def measure(version: str, flavour: str, kw: dict[str, int], values: list[int], warm: list[int],
            level: int) -> tuple[float, float, float, float]:
    """(texter, entry_json_tail, reference_text, reference_json_tail) in us per value."""
    prof = profile(version, flavour, **kw)  # type: ignore[arg-type]
    fmt = prof.format
    render = Renderer(Context(host_format=fmt, platform=prof.platform, kvm=prof))
    text = render.texter(fmt, level, "kvm")

    def tail(v: int) -> object:
        return render.entry_json_tail(fmt, level, "kvm", v)

    for v in warm:
        text(v)
        tail(v)
    ref = Renderer(Context(host_format=fmt, platform=prof.platform, kvm=prof))  # the object path: no tables

    def ref_text(v: int) -> object:
        return ref.reference_text(Record(0, "", "kvm", v, fmt, level))

    def ref_tail(v: int) -> object:
        return ref.reference_json_tail(fmt, level, "kvm", v)

    sample = values[: len(values) // 20 * 3]
    return per_value(text, values), per_value(tail, values), per_value(ref_text, sample), per_value(ref_tail, sample)


def main(n: int = 20000) -> None:
    shapes = {"random": (random_words(3 * n, seed=11), random_words(WARM, seed=12)),
              "kvm-shaped": (kvm_shaped(3 * n, seed=13), kvm_shaped(WARM, seed=14))}
    print(f"{'host':24} {'shape':11} {'L':>2} {'texter us':>10} {'ref':>7} {'ratio':>6} "
          f"{'json us':>8} {'ref':>7} {'ratio':>6}")
    totals: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for host, (version, flavour, kw) in HOSTS.items():
        for shape, (values, warm) in shapes.items():
            for level in (1, 2, 3, 4):
                t_text, t_json, r_text, r_json = measure(version, flavour, kw, values, warm, level)
                totals.setdefault((host, shape), []).append((t_text, t_json))
                print(f"{host:24} {shape:11} {level:>2} {t_text:10.2f} {r_text:7.1f} {t_text / r_text:6.3f} "
                      f"{t_json:8.2f} {r_json:7.1f} {t_json / r_json:6.3f}")
    print("\naverages over levels 1-4 (us per value): texter, entry_json_tail")
    for (host, shape), rows in totals.items():
        print(f"  {host:24} {shape:11} {sum(r[0] for r in rows) / len(rows):6.2f} "
              f"{sum(r[1] for r in rows) / len(rows):6.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20000)
