"""The log reader's hot path (spte/logs/fast.py, spte/logs/pieces.py) against the general reader.

The fast path must not change one byte: every input here is read twice, once with the one
compiled pattern for the commonest kvmmmu lines and the annotation composed from piece
tables, once with every line through the general reader and the entry objects, and the
outputs (annotated text, --only-spte, JSON, summary counts, errors) must be equal.

Inputs: the project's real kvmmmu traces (tests/data/traces/long4k.trace.gz, a Linux 6.18/6.19
shadow-paging host; tests/data/logs/npt_tdp_mmu_6.1.trace, a Linux 6.1.192 AMD NPT/TDP MMU
host: sources in tests/data/README.md and tests/data/logs/README.md), the console printouts
of tests/data/logs, and seeded mutations of all of them (cut lines, changed bytes, swapped
case, values past 64 bits, levels a format lacks, CRLF, task names that hold a needle).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable

import pytest

from spte.entry import CLASSES
from spte.kvm import profile
from spte.logs import Context, LogReader, Record, Renderer
from spte.logs.fast import PATTERN, Cuts, FastLog
from spte.logs.grammar import BY_NAME
from spte.owners import resolve
from tests.conftest import golden_text

SOURCES = ("traces/long4k.trace.gz", "traces/fault_nx.trace.gz", "logs/npt_tdp_mmu_6.1.trace",
           "logs/xen_walks.txt", "logs/linux_oops.txt", "logs/kvm_mmio_walk_sev_5.12.txt",
           "logs/kvm_mmio_walk_icelake_5.10.txt", "logs/ept_misconfig_3.10.txt", "logs/vmcs_dumps.txt",
           "logs/tdp_mmu_invalid_spte_change_6.1.txt", "logs/tdp_mmu_invalid_spte_change_6.9.txt",
           "logs/xen32_walks.txt", "logs/linux_page_table_check.txt")


def _lines() -> list[str]:
    out: list[str] = []
    for src in SOURCES:
        out += golden_text(src).splitlines()
    return out


def _mutated(lines: list[str], n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    hexd = "0123456789abcdefABCDEF"
    out = []
    for _ in range(n):
        line = rng.choice(lines)
        r = rng.random()
        if r < 0.12 and line:
            line = line[:rng.randrange(len(line))]
        elif r < 0.3 and line:
            chars = list(line)
            for _ in range(rng.randrange(1, 4)):
                chars[rng.randrange(len(chars))] = rng.choice(hexd + " x-=.:\t[")
            line = "".join(chars)
        elif r < 0.38:
            line = line.swapcase()
        elif r < 0.48:  # a value past 64 bits, or leading zeros
            line = re.sub(r"([0-9a-f]{3,})", lambda m: rng.choice(["0000", m[1], "1"]) + m[1]
                          + f"{rng.getrandbits(rng.choice([4, 16, 40, 64])):x}", line, count=1)
        elif r < 0.54:
            line = re.sub(r"level (\d)", lambda m: f"level {rng.choice([0, 1, 2, 3, 4, 5, 6, 12, 1234])}", line)
        elif r < 0.6:
            line += "\r"
        elif r < 0.66:  # a task name that holds a printout's needle: the general reader reads the line
            line = re.sub(r"^\s*\S+-(\d+)", lambda m: rng.choice(["PGD 0", "epte 5", "x L4[0x1] = 3", "pgd:1",
                                                                   "CPU 0/KVM", "<...>", "a:b"]) + "-" + m[1],
                          line, count=1)
        elif r < 0.72:
            line = re.sub(r"([0-9a-f]{3,})", lambda m: f"{rng.getrandbits(64):x}", line)
        out.append(line)
    return out


def _contexts() -> dict[str, Callable[[], Context]]:
    shadow = profile("6.19", "shadow", maxphyaddr=48)
    ept = profile("6.19", "ept-ad")
    npt = profile("6.1", "npt", maxphyaddr=40)
    return {
        "shadow": lambda: Context(host_format="x86-64", platform=shadow.platform, kvm=shadow),
        "ept": lambda: Context(host_format="ept", platform=ept.platform, kvm=ept, linux=resolve("linux:6.12"),
                               xen=resolve("xen:4.19:pv")),
        "npt": lambda: Context(host_format="npt", platform=npt.platform, kvm=npt, guest_format="pae"),
        "none": lambda: Context(),
    }


def _read(ctx_of: Callable[[], Context], data: bytes, mode: str, fast: bool, chunk: int = 1 << 14,
          count: bool = False) -> tuple[bytes, list[tuple[int, str]], dict[str, dict[str, int]]]:
    ctx = ctx_of()
    render = Renderer(ctx, count=count)
    reader = FastLog(LogReader(ctx), render, mode, fast=fast)
    out: list[bytes] = []
    errors: list[tuple[int, str]] = []
    lines = re.findall(rb"[^\n]*\n|[^\n]+$", data)  # whole lines, as spte trace cuts them (a CR is no line end)
    first = 1
    for i in range(0, len(lines), chunk):
        blob = b"".join(lines[i:i + chunk])
        pieces, errs = reader.chunk(blob, first)
        out += pieces
        errors += [(e.line, e.error or "") for e in errs]
        assert reader.newlines == blob.count(b"\n")  # (spte trace numbers the next chunk from it)
        first += reader.newlines
    return b"".join(out), errors, render.summary() if count else {}  # counts are --summary's


@pytest.mark.parametrize("ctx_name", ["shadow", "ept", "npt", "none"])
@pytest.mark.parametrize("mode", ["whole", "only", "json", "summary"])
def test_fast_path_output_is_the_general_readers(ctx_name: str, mode: str) -> None:
    lines = _lines()
    data = ("\n".join(lines + _mutated(lines, 3000, seed=11)) + "\n").encode("utf-8", "surrogateescape")
    ctx_of = _contexts()[ctx_name]
    count = mode == "summary"
    fast = _read(ctx_of, data, mode, True, count=count)
    slow = _read(ctx_of, data, mode, False, count=count)
    assert fast == slow
    if mode == "whole":
        assert fast[0].count(b"\n") == data.count(b"\n")
        assert fast[0].count(b"  ## ") > 3000  # the real traces are read, not passed through


@pytest.mark.parametrize("chunk", [1, 3, 50, 4096])
def test_fast_path_across_chunk_edges(chunk: int) -> None:
    """Walks and line numbers carry across chunks as in the general reader; a chunk with a
    reserved-bits line is read whole by the general reader (it annotates the line before)."""
    lines = _lines()
    text = [*lines[:600], "ept_misconfig_inspect_spte: rsvd_bits = 0x38", *lines[600:900]]
    data = ("\n".join(text) + "\n").encode()
    ctx_of = _contexts()["shadow"]
    for mode in ("whole", "json"):
        assert _read(ctx_of, data, mode, True, chunk) == _read(ctx_of, data, mode, False, 1 << 20)


def test_no_trailing_newline_and_crlf() -> None:
    line = ("          kvmcap-9624    [001] ...1.  1286.855957: kvm_mmu_set_spte: gfn 20 spte 14fab8a25 (r-xu) "
            "level 1 at 15e8b4100")
    ctx_of = _contexts()["ept"]
    for data in ((line + "\r\n") * 3, line, line + "\r", "x\n" + line, "\n\n" + line + "\n\n"):
        for mode in ("whole", "only", "json"):
            assert _read(ctx_of, data.encode(), mode, True) == _read(ctx_of, data.encode(), mode, False)


def test_composed_annotation_is_the_object_paths() -> None:
    """The piece tables (spte/logs/pieces.py) against the entry objects and the owner's full
    reading, on random words at every level of every format, with and without an owner."""
    rng = random.Random(5)
    for ctx_name, ctx_of in _contexts().items():
        ctx = ctx_of()
        render = Renderer(ctx)
        for owner, fmt in (("kvm", ctx.host_format), ("guest", ctx.guest_format), ("linux", ctx.linux_format),
                           ("xen", "x86-64"), ("xen", "ept")):
            for level in CLASSES[fmt]:
                text = render.texter(fmt, level, owner)
                for _ in range(150):
                    v = rng.getrandbits(64) if rng.random() < 0.7 else rng.getrandbits(64) & 0xFFF0_0000_0000_0FFF
                    if fmt == "x86-32":
                        v &= 0xFFFF_FFFF
                    rec = Record(1, "e", owner, v, fmt, level)
                    assert text(v) == render.reference_text(rec), (ctx_name, owner, fmt, level, hex(v))


def test_the_pattern_reads_what_the_declarations_read() -> None:
    """Each line the fast pattern takes, the printout's own regex (grammar.py) reads with the
    same value and level."""
    data = ("\n" + "\n".join(_lines()) + "\n").encode()
    names = {"kvm_mmu_paging_element": ("pte", "plevel", "pte"), "kvm_mmu_set_spte": ("spte", "slevel", "spte"),
             "kvm_tdp_mmu_spte_changed": ("new", "tlevel", "new")}
    seen = set()
    for m in PATTERN.finditer(data):
        event = next((n for n in names if m[0].find(n.encode() + b":") >= 0), None)
        if event is None:
            continue
        value, level, declared = names[event]
        p = BY_NAME[event]
        at = data.index(p.needle_bytes, m.start())
        d = p.regex.match(data, at + p.offset, data.index(b"\n", at))
        assert d is not None and int(d[declared], 16) == int(m[value], 16) and int(d["level"]) == int(m[level])
        seen.add(event)
    assert seen == set(names)


def test_deferred_linux_owner_formats_are_the_owners() -> None:
    """spte trace resolves the default Linux owner lazily only for formats a Linux owner reads
    (any other --linux-format is a usage error up front)."""
    from spte.cli.trace import LINUX_OWNER_FORMATS
    from spte.owners import LINUX_FORMATS

    assert LINUX_OWNER_FORMATS == LINUX_FORMATS


@pytest.mark.parametrize("fast", [True, False])
def test_a_guest_value_and_a_host_value_are_decoded_on_their_own_platforms(fast: bool) -> None:
    """The same value at the same level in the guest's walk and in the host's SPTEs: the host's
    entry has MAXPHYADDR 48 (6.19:shadow -M 48), so bits 51:48 of its PML4E are reserved (SDM
    Vol. 3A 4.5, Table 4-15); the guest's (no MAXPHYADDR given: 52) has none.  The decoded-entry
    cache once keyed by value alone and gave the second the first one's platform."""
    import json

    text = ("  a-1 [000] ..... 1.0: kvm_mmu_paging_element: pte 0 level 4\n"
            "  a-1 [000] ..... 1.0: kvm_tdp_mmu_spte_changed: as id 0 gfn 0 level 4 old_spte 0 new_spte 0\n")
    rows = [json.loads(x) for x in _read(_contexts()["shadow"], text.encode(), "json", fast)[0].splitlines()]
    assert [(r["owner"], "reserved_48_51" in r["fields"]) for r in rows] == [("guest", False), ("kvm", True),
                                                                               ("kvm", True)]


def test_a_verdict_waits_past_tracepoint_transitions_on_both_paths() -> None:
    """handle_changed_spte()'s verdict belongs to its own ``as_id:`` line: a kvm_tdp_mmu_spte_changed tracepoint
    between them (the fast path's line) neither takes it nor drops it, on either path."""
    data = (b"Invalid SPTE change: cannot replace a present leaf\n"
            b"kvm_tdp_mmu_spte_changed: as id 0 gfn 100 level 2 old_spte 0 new_spte 8000000001234907\n"
            b"as_id: 0 gfn: 100200 old_spte: 600000112400bf3 new_spte: 6000001126009f3 level: 2\n")
    ctx_of = _contexts()["ept"]
    for mode in ("whole", "json"):
        fast, slow = _read(ctx_of, data, mode, True), _read(ctx_of, data, mode, False)
        assert fast == slow
        last = fast[0].decode().splitlines()[-1]
        assert "line 1: the kernel found a present leaf replaced by another" in last


# -- the bulk path: a chunk composed without a Python step per line --------------------------------

def _sprinkled(every: int, seed: int) -> bytes:
    """The real traces with one mutated line in ``every``: most small chunks are clean (the bulk
    path), some hold a needle outside an event or an unusual event line (the line path)."""
    lines = _lines()
    rng = random.Random(seed)
    bad = iter(_mutated(lines, len(lines), seed))
    out = [next(bad) if rng.randrange(every) == 0 else line for line in lines]
    return ("\n".join(out) + "\n").encode("utf-8", "surrogateescape")


@pytest.mark.parametrize("ctx_name", ["shadow", "ept", "npt"])
@pytest.mark.parametrize("mode", ["whole", "only", "json", "summary"])
def test_bulk_chunks_are_the_general_readers(ctx_name: str, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import spte.logs.fast as fast

    monkeypatch.setattr(fast, "BULK_BACKOFF", 0)  # every chunk tries the bulk path first
    data = _sprinkled(40, seed=3)
    ctx_of = _contexts()[ctx_name]
    count = mode in ("summary", "json")  # spte trace --summary [--json]
    slow = _read(ctx_of, data, mode, False, count=count)
    for chunk in (7, 64):
        assert _read(ctx_of, data, mode, True, chunk, count=count) == slow


def test_after_failed_bulk_tries_chunks_go_line_by_line_for_a_while() -> None:
    """A log of other printouts does not pay for a bulk try per chunk; a trace after it is bulk again."""
    import spte.logs.fast as fast

    render = Renderer(_contexts()["ept"](), count=False)
    reader = FastLog(LogReader(render.ctx), render, "whole")
    console = b"[    1.0] kvm: Bad page map in process qemu  pte:8000000123456067 pmd:1234067\n" * 10
    trace = golden_text("traces/long4k.trace.gz").encode()[:20000]
    tries = []
    real_bulk = reader._bulk

    def bulk(*args: object) -> object:
        tries.append(args[1])
        return real_bulk(*args)  # type: ignore[arg-type]

    reader._bulk = bulk  # type: ignore[method-assign]
    for i in range(200):
        reader.chunk(console, i)
    assert len(tries) < 12 and fast.BULK_BACKOFF == 63  # 1 + 2 + 4 + ... + 63 chunks waited, then a try every 64
    tries.clear()
    for i in range(70):
        reader.chunk(trace, 1000 + i)
    assert tries[-1] == 1069  # once a try succeeds, every chunk tries


def test_clean_trace_chunks_take_the_bulk_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """A real trace (no other printout, no walk read past its end) never takes the line path."""
    data = golden_text("traces/long4k.trace.gz").encode()

    def line_path(*args: object) -> None:
        raise AssertionError("a clean chunk took the line-by-line path")

    for mode in ("whole", "only", "json", "summary"):
        slow = _read(_contexts()["shadow"], data, mode, False, count=True)
        with monkeypatch.context() as m:
            m.setattr(FastLog, "_fast", line_path)
            assert _read(_contexts()["shadow"], data, mode, True, 97, count=True) == slow


def test_bulk_memo_full_reads_per_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once the memo of event texts is full, each chunk reads its own new texts (output unchanged)."""
    import spte.logs.fast as fast

    data = _sprinkled(200, seed=8)
    slow = _read(_contexts()["ept"], data, "json", False)
    monkeypatch.setattr(fast, "MEMO", 16)
    assert _read(_contexts()["ept"], data, "json", True, 50) == slow


@pytest.mark.parametrize("mode", ["whole", "only", "json", "summary"])
def test_values_that_never_repeat_do_not_keep_recurring_ones_out_of_the_memo(mode: str,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A burst of SPTEs that never repeat, then a real trace: the bulk memo (never cleared)
    admits a key on its second reading (spte.memo.Memo), so the burst cannot fill it and the
    real trace's recurring keys are memoised after it; the output is the general reader's."""
    import spte.logs.fast as fast

    monkeypatch.setattr(fast, "MEMO", 256)
    rng = random.Random(5)
    values = [rng.getrandbits(63) | 1 << 11 for _ in range(4 * 256)]
    burst = "".join(f"{PREFIX}kvm_mmu_set_spte: gfn {i:x} spte {v:x} (r-xu) level 1 at 15e8b4{i % 512 * 8:03x}\n"
                    for i, v in enumerate(values)).encode()
    trace = golden_text("traces/long4k.trace.gz").encode()
    ctx = _contexts()["shadow"]()
    render = Renderer(ctx, count=mode == "summary")
    reader = FastLog(LogReader(ctx), render, mode)
    out, lines = [], burst.splitlines(keepends=True)
    for i in range(0, len(lines), 128):  # chunks of the burst smaller than the memo
        out += reader.chunk(b"".join(lines[i:i + 128]), 1 + i)[0]
    out += reader.chunk(trace, 1 + len(lines))[0]
    memo = reader._bulk_memo
    keys = re.findall(rb": kvm_mmu_paging_element: pte [0-9a-f]+ level \d", trace)  # (the memo's keys)
    assert max(set(keys), key=keys.count) in memo  # the trace's commonest walk step
    assert not any(b"spte %x " % v in key for v in values for key in memo)
    slow = _read(_contexts()["shadow"], burst + trace, mode, False, count=mode == "summary")
    assert (b"".join(out), render.summary() if mode == "summary" else {}) == (slow[0], slow[2])


PREFIX = "  qemu-1 [000] ..... 1.0: "


@pytest.mark.parametrize("lines", [
    # the walk reads past a not-present PML4E: the next steps are not entries (reader.py _past)
    ["kvm_mmu_pagetable_walk: addr 7000 pferr 0", "kvm_mmu_paging_element: pte 0 level 4",
     "kvm_mmu_paging_element: pte 2003 level 3", "kvm_mmu_paging_element: pte 3003 level 2"],
    # ... past a 1 GiB leaf, and a new walk starting at a higher level without a header
    ["kvm_mmu_paging_element: pte 1083 level 3", "kvm_mmu_paging_element: pte 5003 level 2",
     "kvm_mmu_paging_element: pte 101007 level 4", "kvm_mmu_paging_element: pte 102007 level 3"],
])
@pytest.mark.parametrize("chunk", [1, 2, 3, 100])
def test_walks_read_past_their_end_across_chunks(lines: list[str], chunk: int) -> None:
    data = "".join(PREFIX + line + "\n" for line in lines * 3).encode()
    for mode in ("whole", "json"):
        fast = _read(_contexts()["shadow"], data, mode, True, chunk)
        assert fast == _read(_contexts()["shadow"], data, mode, False)
    assert b"not an entry: the printer read past" in _read(_contexts()["shadow"], data, "whole", True, chunk)[0]


@pytest.mark.parametrize("odd", [
    "kvm_mmu_paging_element: pte 101007 level 4x",  # a number run on into a word
    "kvm_mmu_paging_element: pte 101007 level 4 and more",
    "kvm_mmu_paging_element: pte 101007  level 4",  # two blanks
    "kvm_mmu_set_spte: gfn 20 spte 14fab8a25 (r-xu) level 1 at 15e8b4100xyz",
    "kvm_mmu_set_spte: gfn 20 spte 14fab8a25 (r-x) level 1 at 15e8b4100 trailing words",
    "kvm_mmu_set_spte: gfn 20 spte 14fab8a25 (r-xu) level 9 at 15e8b4100",  # a level the format lacks
    "kvm_tdp_mmu_spte_changed: as id 0 gfn 20 level 1 old_spte 0 new_spte 14fab8a25g",
    "kvm_tdp_mmu_spte_changed: as id -1 gfn 20 level 1 old_spte 0 new_spte 14fab8a25 x",
    "kvm_mmu_paging_element: pte 101007 level 4\tx",  # a tab after the number
    "kvm_mmu_paging_element: pte 101007 level 04",
    "kvm_mmu_paging_element: pte 10100A level 4",  # upper-case hex
    "kvm_mmu_set_spte: gfn 20 spte 114fab8a2500000000 (r-xu) level 1 at 15e8b4100",  # 17 digits: an error
    "kvm_mmu_set_spte: gfn 20 spte 14fab8a25 (r-xu) level 1 at 15e8b4100 %d%s %%",  # no text is a % format
    "kvm_mmu_set_spte: gfn 20 spte 14fab8a25 (r-xu) level 1 at 15e8b4100\rx",  # a CR inside the line
    "kvm_mmu_pagetable_walk: addr 7000 pferr 0 P: kvm_mmu_set_spte: gfn 20 spte 14fab8a25 (r-xu) level 1 at 1",
    "kvm_mmu_pagetable_walk: addr 7000x pferr 0",
    "kvm_mmu_pagetable_walk: addr 7000 pferr 0 epte 5",  # a needle in the rest of a walk header's line
    "kvm_mmu_pagetable_walk: addr 7000 pferr 0 pgd",  # ... one that ends in the colon the check adds
])
@pytest.mark.parametrize("end", ["\n", "\r\n"])
@pytest.mark.parametrize("chunk", [1, 3, 100])
def test_event_lines_of_other_forms_are_read_as_the_general_reader_reads_them(odd: str, end: str, chunk: int) -> None:
    """The bulk path reads only the line path's exact forms (each number ending at a blank or
    the line's end); a line of any other form, among ordinary ones (with LF or CRLF line ends,
    and last in the log without one), reads as the general reader reads it, in every mode."""
    walk = ["kvm_mmu_pagetable_walk: addr 7000 pferr 0", "kvm_mmu_paging_element: pte 101007 level 4",
            "kvm_mmu_set_spte: gfn 20 spte 14fab8a25 (r-xu) level 1 at 15e8b4100"]
    for lines in ([*walk, odd, *walk], [*walk, odd]):
        data = end.join(PREFIX + line for line in lines).encode()
        for mode in ("whole", "only", "json", "summary"):
            fast = _read(_contexts()["shadow"], data, mode, True, chunk, count=mode == "summary")
            assert fast == _read(_contexts()["shadow"], data, mode, False, count=mode == "summary")


def test_a_line_of_another_form_is_cut_out_and_the_rest_read_in_bulk() -> None:
    """One event line the bulk path does not read, among many it does: that line goes to the
    line path, and the chunk's other events are still read in bulk (their texts reach the memo,
    no back-off)."""
    walk = ["kvm_mmu_pagetable_walk: addr 7000 pferr 0", "kvm_mmu_paging_element: pte 101007 level 4",
            "kvm_mmu_set_spte: gfn 20 spte 14fab8a25 (r-xu) level 1 at 15e8b4100"]
    lines = [*walk * 20, "kvm_mmu_paging_element: pte 101007 level 4x", *walk * 20]
    data = "".join(PREFIX + line + "\n" for line in lines).encode()
    render = Renderer(_contexts()["shadow"](), count=False)
    reader = FastLog(LogReader(render.ctx), render, "whole")
    out, errors = reader.chunk(data, 1)
    assert (b"".join(out), []) == _read(_contexts()["shadow"], data, "whole", False)[:2] and not errors
    assert b": kvm_mmu_paging_element: pte 101007 level 4" in reader._bulk_memo and not reader._bulk_wait


def test_a_cut_for_another_form_offers_no_text_twice() -> None:
    """The parts of a chunk around a line of another form are composed from the lookups the
    chunk already made: values seen once (every SPTE here is new) are not offered to the memo
    a second time, which would admit them (spte.memo.Memo)."""
    lines = [f"kvm_mmu_set_spte: gfn {i:x} spte {0x14FAB8A25 + (i << 12):x} (r-xu) level 1 at 15e8b4100"
             for i in range(300)]
    lines.insert(150, "kvm_mmu_paging_element: pte 101007 level 9")  # no level 9 in x86-64
    data = "".join(PREFIX + line + "\n" for line in lines).encode()
    render = Renderer(_contexts()["shadow"](), count=False)
    reader = FastLog(LogReader(render.ctx), render, "whole")
    out, errors = reader.chunk(data, 1)
    slow = _read(_contexts()["shadow"], data, "whole", False)
    assert b"".join(out) == slow[0] and [(e.line, e.error) for e in errors] == slow[1]
    assert not reader._bulk_memo and not reader._bulk_wait


@pytest.mark.parametrize("chunk", [2, 5, 100])
def test_needles_before_and_after_a_walk_header(chunk: int) -> None:
    """Needles in the gap before a walk header and in the rest of the header's own line: the
    two cuts meet on that line and become one; the output and line numbers are the general
    reader's."""
    walk = ["kvm_mmu_pagetable_walk: addr 7000 pferr 0", "kvm_mmu_paging_element: pte 101007 level 4",
            "kvm_mmu_set_spte: gfn 20 spte 14fab8a25 (r-xu) level 1 at 15e8b4100"]
    lines = [*walk, "fast_page_fault: vcpu 0 gva 7000 error_code 2 sptep 0 old 0 new 1 spurious 0 fixed 0",
             "kvm_mmu_pagetable_walk: addr 7000 pferr 0 epte 5", *walk[1:], *walk]
    data = "".join(PREFIX + line + "\n" for line in lines).encode()
    for mode in ("whole", "only", "json"):
        assert _read(_contexts()["shadow"], data, mode, True, chunk) == _read(_contexts()["shadow"], data, mode, False)


@pytest.mark.parametrize("chunk", [1, 2, 3, 100])
def test_transitions_among_walks_as_json_and_counts(chunk: int) -> None:
    """A kvm_tdp_mmu_spte_changed line is two JSON records (old, new) with one line number; a
    walk header none: mixed, at every chunk size, the records and counts are the general
    reader's (values: 6.19 EPT SPTEs of bench/inputs.py's shapes)."""
    lines = ["kvm_mmu_pagetable_walk: addr 7000 pferr 0", "kvm_mmu_paging_element: pte 101007 level 4",
             "kvm_tdp_mmu_spte_changed: as id 0 gfn 20 level 1 old_spte 80000000000005a0 new_spte 86000001234b77",
             "kvm_mmu_pagetable_walk: addr 8000 pferr 2",
             "kvm_tdp_mmu_spte_changed: as id 0 gfn 21 level 2 old_spte 86000001234b77 new_spte 8000000000000000",
             "kvm_mmu_set_spte: gfn 20 spte 86000001234b77 (rwxu) level 1 at 15e8b4100"]
    data = "".join(PREFIX + line + "\n" for line in lines * 2).encode()
    for mode in ("json", "summary"):
        fast = _read(_contexts()["ept"], data, mode, True, chunk, count=True)
        assert fast == _read(_contexts()["ept"], data, mode, False, count=True)
    records = _read(_contexts()["ept"], data, "json", True, chunk)[0].splitlines()
    assert [json.loads(r)["line"] for r in records if b"spte_changed" in r] == [3, 3, 5, 5, 9, 9, 11, 11]


@pytest.mark.parametrize("before", ["pgd", "x PGD 1 ", "as_id", "nested_cr3", "L4[0x1] = 5 y", "epte 5 "])
def test_a_needle_before_the_event_is_the_general_readers(before: str) -> None:
    """A needle anywhere before an event (in the task name, or ending in the colon that
    precedes the event) makes the general reader read the line from that needle."""
    event = "kvm_mmu_set_spte: gfn 20 spte 14fab8a25 (r-xu) level 1 at 15e8b4100"
    data = (f"{PREFIX}{event}\n  {before}-7 [001] ..... 2.0: {event}\n{before}: {event}\n").encode()
    for mode in ("whole", "only", "json"):
        assert _read(_contexts()["ept"], data, mode, True) == _read(_contexts()["ept"], data, mode, False)


def test_bulk_memo_keeps_at_most_its_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """JSON readings are long: the memo stops admitting keys at MEMO_BYTES of text; the output
    is unchanged (later keys are read per chunk)."""
    import spte.logs.fast as fast

    monkeypatch.setattr(fast, "MEMO_BYTES", 20_000)
    data = golden_text("traces/long4k.trace.gz").encode()
    render = Renderer(_contexts()["shadow"](), count=False)
    reader = FastLog(LogReader(render.ctx), render, "json")
    pieces, _ = reader.chunk(data, 1)
    memo = reader._bulk_memo
    kept = sum(len(k) + len(h.text) + len(h.more) for k, h in memo.items())
    assert 0 < kept <= 20_000 and memo.overflow
    assert b"".join(pieces) == _read(_contexts()["shadow"], data, "json", False)[0]


@pytest.mark.parametrize("chunk", [1, 100])
def test_a_value_wider_than_its_format_is_an_error_on_every_path(chunk: int) -> None:
    """A 32-bit guest's walk step printed with bit 32 set (Pte32 is 32 bits, SDM Vol. 3A 4.3)
    is reported as an error line, never decoded with its high bits dropped."""
    ctx_of = lambda: Context(host_format="x86-64", guest_format="x86-32")  # noqa: E731
    data = (f"{PREFIX}kvm_mmu_paging_element: pte 100000067 level 1\n{PREFIX}kvm_mmu_paging_element: pte 67 level 1\n"
            f"{PREFIX}kvm_tdp_mmu_spte_changed: as id 0 gfn 1 level 1 old_spte 0 new_spte 10000000000000000\n").encode()
    for mode in ("whole", "json"):
        fast = _read(ctx_of, data, mode, True, chunk)
        assert fast == _read(ctx_of, data, mode, False)
        assert [line for line, _ in fast[1]] == [1, 3]
        assert "does not fit in 32 bits (x86-32 entries)" in fast[1][0][1]
    assert b"pte 100000067 level 1\n" in _read(ctx_of, data, "whole", True, chunk)[0]


def test_the_needle_check_between_events_stays_small_and_finds_needles_in_long_gaps() -> None:
    """Clean shapes are remembered only when short, and at most CLEAN_SHAPES of them; a needle
    inside a long stretch of other lines between two events is still found (the general reader
    then reads the chunk: same output)."""
    import spte.logs.fast as fast

    event = f"{PREFIX}kvm_mmu_set_spte: gfn 20 spte 14fab8a25 (r-xu) level 1 at 15e8b4100\n"
    prose = "".join(f"  qemu-1 [000] ..... 1.0: kvm_exit: reason {i} rip 0x{i:x} info 0 0 word{i}\n"
                    for i in range(60))
    for needle in ("", "  x-1 [000] ..... 1.0: something PGD 0 P4D 0\n"):
        data = (event + prose + needle + prose + event).encode()
        render = Renderer(_contexts()["ept"](), count=False)
        reader = FastLog(LogReader(render.ctx), render, "whole")
        pieces, _ = reader.chunk(data, 1)
        assert b"".join(pieces) == _read(_contexts()["ept"], data, "whole", False)[0]
        assert all(len(s) <= fast.SHAPE_MAX for s in reader._clean_shapes)
        assert (b"PGD 0 P4D 0  ## " in b"".join(pieces)) == bool(needle)  # read by the general reader


@pytest.mark.parametrize("every", [3, 50, 400])
def test_a_chunk_is_cut_at_needles_between_events(every: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A trace whose events are interleaved with other printouts' lines (fast_page_fault, a
    walker error): the lines around each needle are read in bulk, the needle's own lines by the
    line path (a chunk with needles in more than BULK_CUTS gaps: all of it), and the output is
    the general reader's."""
    import spte.logs.fast as fast

    lines = golden_text("traces/long4k.trace.gz").splitlines()
    needles = ["  vcpu-1 [000] ...1. 1.0: fast_page_fault: vcpu 0 gva 1000 error_code P|W sptep 0000000012345678 "
               "old 0x8600000001234b75 new 8600000001234b77 spurious 0 fixed 1",
               "  vcpu-1 [000] ...1. 1.0: kvm_mmu_walker_error: pferr 9 P|RSVD"]
    mixed = [x for i, line in enumerate(lines) for x in ([needles[i % 2], line] if i % every == 0 else [line])]
    data = ("\n".join(mixed) + "\n").encode()
    bulk_lines = []
    real = FastLog._bulk

    def bulk(self: FastLog, blob: bytes, first: int, out: list[bytes], read: bool = False) -> int | Cuts | None:
        done = real(self, blob, first, out, read)
        if isinstance(done, int):
            assert done == blob.count(b"\n")
            bulk_lines.append(done)
        return done

    monkeypatch.setattr(FastLog, "_bulk", bulk)
    for mode in ("whole", "json"):
        assert _read(_contexts()["shadow"], data, mode, True, 1000) == _read(_contexts()["shadow"], data, mode, False)
    # (two modes) needles in at most BULK_CUTS gaps of a 1000-line chunk: most lines in bulk
    assert sum(bulk_lines) > {3: -1, 50: len(mixed), 400: len(mixed)}[every] and fast.BULK_CUTS == 32
