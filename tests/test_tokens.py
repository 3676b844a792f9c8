"""The one value-token grammar (spte/tokens.py, docs/cli.md "Value tokens"): the library and
the CLI read the same text the same way, streams cross block boundaries without losing,
duplicating or renumbering anything, and memory stays bounded on any single line."""

from __future__ import annotations

import io
import random
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spte import tokens
from spte.entry import EptPte, Pte32, decode, parse_value
from spte.tokens import TokenError, parse, stream_values, stream_words, values_of
from tests.test_cli import run

# (text, value or the reason it is refused).  Expected values are int() of the plain digits,
# written out by hand: the grammar is "ASCII hex digits, optional 0x, '_' between digits".
CASES: list[tuple[str, int | str]] = [
    ("0", 0), ("7", 7), ("0x7", 7), ("0X7", 7), ("ff", 255), ("FF", 255), ("0xdeadBEEF", 0xDEADBEEF),
    ("ffffffffffffffff", 2**64 - 1), ("0x" + "0" * 100 + "1", 1), ("0123_4567_89ab_cdef", 0x0123456789ABCDEF),
    (" 0x10\t", 16),
    ("", "parse"), ("0x", "parse"), ("+5", "parse"), ("-0", "parse"), ("-1", "parse"), ("0x-1", "parse"),
    ("_1", "parse"), ("1_", "parse"), ("1__0", "parse"), ("0x_1", "parse"), ("g", "parse"), ("0b1x", "parse"),
    ("１", "parse"), ("٣", "parse"), ("0x１", "parse"), ("1 2", "parse"), ("0o7", "parse"),
    ("10000000000000000", "range"), ("0x1" + "0" * 16, "range"), ("f" * 5000, "range"),
]


@pytest.mark.parametrize("text,expected", CASES)
def test_grammar(text, expected):
    if isinstance(expected, int):
        assert parse(text) == expected and parse(text.encode()) == expected
    else:
        with pytest.raises(TokenError) as e:
            parse(text)
        assert e.value.reason == expected
        with pytest.raises(ValueError, match="does not fit in 64 bits" if expected == "range" else "cannot parse"):
            parse_value(text)


def test_decimal_tokens_and_the_int_string_limit():
    assert parse("255", decimal=True) == 255 and parse("0x10", decimal=True) == 16
    assert parse("18446744073709551615", decimal=True) == 2**64 - 1
    with pytest.raises(TokenError, match="does not fit in 64 bits"):
        parse("18446744073709551616", decimal=True)
    # 5001 digits: Python's int() refuses strings over 4300 digits; leading zeros must not matter.
    assert parse("0" * 4998 + "255", decimal=True) == 255
    with pytest.raises(TokenError) as e:
        parse("1" * 5001, decimal=True)
    assert e.value.reason == "range"
    with pytest.raises(TokenError) as e:
        parse("ff", decimal=True)
    assert e.value.reason == "parse"


def test_width_32():
    assert parse("ffffffff", width=32) == 2**32 - 1
    with pytest.raises(TokenError, match="does not fit in 32 bits"):
        parse("100000000", width=32)
    with pytest.raises(ValueError, match="does not fit in 32 bits"):
        Pte32.from_hex("1" + "0" * 8)


def test_library_reads_the_same_grammar():
    """decode(), Entry.from_hex and parse_value go through spte.tokens."""
    assert decode("0x0123_4567", "ept", 1).value == 0x01234567
    assert EptPte.from_hex("  ff ").value == 0xFF
    for bad in ("+5", "-0", "１", "0x_1"):
        with pytest.raises(ValueError, match="cannot parse"):
            decode(bad, "ept", 1)


def _stream(data: bytes, chunk: int, decimal: bool = False) -> tuple[list[int], list[tuple[int, bytes, str]]]:
    errors: list[tuple[int, bytes, str]] = []
    values = [v for block in stream_values(io.BytesIO(data), lambda n, t, r: errors.append((n, t, r)),
                                           decimal=decimal, chunk=chunk) for v in block]
    return values, errors


TOKENS = [b"0x10", b"ff", b"+5", b"-0", b"1_0", b"0x_1", b"1__0", b"0x", b"g", b"ffffffffffffffff",
          b"10000000000000000", b"0X0", b"0" * 30 + b"1", b"\xff\xfe", b"\xef\xbc\x91", b"0" * 5000 + b"1_2",
          b"0" * 5000 + b"x1", b"1" * 5000, b"0_" * 3000 + b"7", b"z" * 5000,
          # long tokens reduced as they stream: a 0x/0X prefix, a leading '_', a range error after zeros
          b"0x" + b"0" * 5000 + b"1f", b"0X" + b"0" * 5000 + b"_1", b"_" + b"0" * 5000, b"0x_" + b"0" * 5000,
          b"0x" + b"0" * 5000 + b"1" * 17, b"0" * 5000 + b"__1"]
SEPS = [b" ", b",", b"\n", b"\r\n", b"\t", b" , ", b"\x0b", b"\x0c"]


@pytest.mark.parametrize("decimal", [False, True])
def test_streams_agree_with_token_by_token_parsing_at_every_block_size(decimal):
    rng = random.Random(15)
    for _ in range(25):
        parts, expected, errors, line = [], [], [], 1
        for _ in range(rng.randint(0, 40)):
            tok, sep = rng.choice(TOKENS), rng.choice(SEPS)
            parts.append(tok + sep)
            try:
                expected.append(parse(tok, decimal=decimal))
            except TokenError as e:
                errors.append((line, e.reason))
            line += sep.count(b"\n")
        data = b"".join(parts)
        for chunk in (1, 2, 3, 7, 64, 4097, 1 << 16):
            values, errs = _stream(data, chunk, decimal)
            assert values == expected, (data[:80], chunk)
            assert [(n, r) for n, _, r in errs] == errors, (data[:80], chunk)


def test_error_names_the_token_start_and_its_line():
    values, errs = _stream(b"1\n2 3\nzz" + b"z" * 10000 + b" 4\n", chunk=100)
    assert values == [1, 2, 3, 4]
    assert errs[0][0] == 3 and errs[0][1].startswith(b"zzzz") and errs[0][2] == "parse"
    assert len(errs[0][1]) <= tokens.HEAD  # a huge token is quoted by its start, never whole


def test_last_token_without_newline_and_values_of():
    assert _stream(b"1 2\n3", 2)[0] == [1, 2, 3]
    assert values_of(b"0x1,0x2 3", lambda *a: None) == [1, 2, 3]


def test_strict_reader_loses_nothing_before_a_bad_token():
    """A bad() that raises (--strict) still gets every value before the bad token first."""
    got: list[int] = []

    def bad(n: int, tok: bytes, why: str) -> None:
        raise RuntimeError(n)

    with pytest.raises(RuntimeError, match="2"):
        for block in stream_values(io.BytesIO(b"1 2 3\nzz 4\n"), bad):
            got += block
    assert got == [1, 2, 3]


@given(st.integers(0, 2**64 - 1), st.integers(0, 40), st.booleans(), st.booleans())
def test_any_value_with_any_padding_round_trips(v, zeros, prefix, upper):
    text = ("0x" if prefix else "") + "0" * zeros + (f"{v:X}" if upper else f"{v:x}")
    assert parse(text) == v
    assert parse("0" * zeros + str(v), decimal=True) == v


def test_memory_stays_bounded_on_a_40_mb_single_line():
    """One 40 MB line of tokens: the reader streams within the line (issue 15: 3.5 GB before)."""
    code = (
        "import resource, sys\n"
        "from spte.tokens import stream_values\n"
        "class Gen:\n"
        "    pos, size = 0, 40 << 20\n"
        "    def read(self, n):\n"
        "        k = min(n, self.size - self.pos)\n"
        "        start = self.pos % 7; self.pos += k\n"
        "        return (b'0x1234 ' * (k // 7 + 2))[start:start + k]\n"
        "n = 0\n"
        "for block in stream_values(Gen(), lambda *a: None):\n"
        "    n += len(block)\n"
        # VmHWM is this image's peak (ru_maxrss would carry the forking parent's over exec).
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]\n"
        "print(n, hwm)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    count, rss_kib = map(int, r.stdout.split())
    # 7-byte tokens '0x1234 ' across 64 KiB blocks; 40 MiB = 7 * 5991862 + 6, the last token '0x1234'.
    assert count == 5991863
    assert rss_kib < 100 * 1024, rss_kib  # the line alone is 40 MiB; split at once it took ~1.4 GB


# --- the CLI reads the same grammar -------------------------------------------------------------

CLI_SAME = [t for t, _ in CASES if t.strip() and " " not in t.strip() and len(t) < 200]


def test_cli_decode_accepts_exactly_what_the_library_accepts():
    out = run("decode", "--line", *CLI_SAME, check_traceback=True)
    accepted = []
    for t in CLI_SAME:
        try:
            accepted.append(parse(t))
        except TokenError:
            pass
    assert [int(line.split()[0], 16) for line in out.stdout.splitlines()] == accepted


def test_cli_decode_memory_is_bounded_on_one_long_line():
    code = ("import resource, subprocess, sys\n"
            "p = subprocess.Popen([sys.argv[1], 'decode', '--line'], stdin=subprocess.PIPE, "
            "stdout=subprocess.DEVNULL)\n"
            "chunk = b'0x1234 ' * (1 << 16)\n"
            "for _ in range((20 << 20) // len(chunk)):\n"
            "    p.stdin.write(chunk)\n"
            "p.stdin.close(); p.wait()\n"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    from tests.test_cli import SPTE

    r = subprocess.run([sys.executable, "-c", code, SPTE], capture_output=True, text=True, timeout=600, check=True)
    assert int(r.stdout) < 150 * 1024  # 20 MiB of input on one line; whole-line splitting takes ~0.7 GB


# Plain lowercase hex (the common block) mixed with everything the text path must refuse:
# prefixes, upper case, signs, '_', \x1c-\x1f (str.split() splits there, bytes.split() does
# not), non-ASCII, tokens longer than the width's digits (leading zeros) and too-wide values.
WORDS = [b"0", b"1f", b"ffffffffffffffff", b"0000000000000000", b"00000000000000001", b"8600000001234b77",
         b"0x1f", b"1F", b"+5", b"1_0", b"1\x1c2", b"\x1f", b"\xc3\xa9", b"10000000000000000", b"abc", b"ffffffff",
         b"100000000", b"g"]


def _collect(into: list[tuple[int, bytes, str]]):
    return lambda *error: into.append(error)


@pytest.mark.parametrize("width", [64, 32])
def test_stream_words_is_stream_values_with_each_plain_blocks_tokens(width):
    """The same values and errors as stream_values; texts only for blocks every token of which
    is plain lowercase hex of at most width/4 digits, and then each token's own text."""
    rng = random.Random(width)
    for trial in range(400):
        pool = WORDS[:6] if trial % 2 else WORDS  # half the inputs are all plain
        data = b"".join(rng.choice(pool) + rng.choice(SEPS) for _ in range(rng.randint(0, 60)))
        for chunk in (3, 16, 1 << 16):
            errors_a: list[tuple[int, bytes, str]] = []
            errors_b: list[tuple[int, bytes, str]] = []
            values = list(stream_values(io.BytesIO(data), _collect(errors_a), width=width, chunk=chunk))
            words = list(stream_words(io.BytesIO(data), _collect(errors_b), width=width, chunk=chunk))
            assert [v for v, _ in words] == values and errors_a == errors_b, (data, chunk)
            for block, texts in words:
                if texts is not None:
                    assert len(texts) == len(block)
                    for v, t in zip(block, texts, strict=True):
                        assert len(t) <= width // 4 and t == f"{v:x}".zfill(len(t)), (t, v)
    plain = b"1f\n0a, 8600000001234b77\n"
    assert list(stream_words(io.BytesIO(plain), print)) == [([0x1F, 0xA, 0x8600000001234B77],
                                                              ["1f", "0a", "8600000001234b77"])]
    for odd in (b"0x1f\n", b"1F\n", b"1\x1c2\n", b"00000000000000001\n"):
        assert all(texts is None for _, texts in stream_words(io.BytesIO(odd), lambda *e: None)), odd
    assert list(stream_words(io.BytesIO(b"1f 10\n"), lambda *e: None, decimal=True)) == [([10], None)]


def test_one_value_per_line_blocks_count_lines_by_their_split():
    """A block of one plain value per line is split at its line ends, whose count then numbers the
    lines: a bad token after thousands of such lines (some blocks with empty lines, which take the
    general split) is named by its own line, at every block size."""
    for lines in (["1f"] * 3000, ["1f", "", "8600000001234b77"] * 1000):
        data = ("\n".join(lines) + "\nzz\n7\n").encode()
        for chunk in (5, 64, 1 << 14):
            errors: list[tuple[int, bytes, str]] = []
            blocks = list(stream_words(io.BytesIO(data), _collect(errors), chunk=chunk))
            assert [(n, tok) for n, tok, _ in errors] == [(len(lines) + 1, b"zz")], chunk
            assert [v for block, _ in blocks for v in block] == [int(x, 16) for x in lines if x] + [7]
    # Blank lines before, between and after the values: the general split, the same tokens.
    for data in (b"1f\n2\n\n", b"\n1f\n2\n", b"1f\n\n2\n", b"1f\n2\n"):
        assert list(stream_words(io.BytesIO(data), _collect([]))) == [([0x1F, 2], ["1f", "2"])], data
