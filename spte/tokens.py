"""The one grammar of an entry value written as text, shared by the CLI and the library.

A value token is::

    token   = [ "0x" | "0X" ] hexdigit+        (the default: hex, the prefix optional)
            | decdigit+                        (with decimal=True; "0x..." stays hex)
    hexdigit = ASCII 0-9 a-f A-F               decdigit = ASCII 0-9

A single ``_`` may group digits (``0x0123_4567``), only between two digits: not after
``0x``, not doubled, not at either end.  Nothing else is a value: no sign (``+5``, ``-0``:
an entry is an unsigned bit pattern, and a sign in a dump means the dump is not what the user
thinks), no non-ASCII digits (``int()`` would accept full-width ``１``), no ``0x`` without
digits.  Leading zeros are allowed in any number: a
5001-digit token that is zeros and then ``255`` is the value 255 (Python's int-string limit
is never reached: zeros are stripped before conversion).  A well-formed token whose value
needs more than ``width`` bits is refused as *range* (``does not fit in 64 bits``), without
converting it, however long it is.

In a stream, tokens are separated by ASCII whitespace or commas; lines end at LF (CR is
whitespace, so CRLF files read the same).  :func:`stream_values` reads fixed-size blocks, so
memory stays bounded whatever the line length: a token longer than :data:`CARRY_MAX` bytes is
reduced to its significant digits as it streams, and one that cannot be valid is skipped to
its end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import repeat
from typing import BinaryIO, Literal

Reason = Literal["parse", "range"]
Bad = Callable[[int, bytes, Reason], None]

HEX_DIGITS = b"0123456789abcdefABCDEF"
DEC_DIGITS = b"0123456789"
SEPARATORS = b" \t\n\r\x0b\x0c,"  # bytes.split()'s ASCII whitespace, and the comma
CHUNK = 1 << 16  # bytes read per block
CARRY_MAX = 1 << 12  # a token carried across blocks is reduced past this many bytes
HEAD = 48  # bytes of a long token kept for its error message
_WS = " \t\n\r\x0b\x0c"
_SEP_TABLE = bytes.maketrans(b"\t\n\r\x0b\x0c,", b"      ")


class TokenError(ValueError):
    """A token that is not a value: ``reason`` is "parse" (not a number) or "range" (too wide)."""

    def __init__(self, token: bytes | str, reason: Reason, width: int) -> None:
        self.token = token
        self.reason: Reason = reason
        self.width = width
        shown = f"{token[:HEAD]!r}{'...' if len(token) > HEAD else ''}"
        super().__init__(f"{shown} does not fit in {width} bits" if reason == "range" else
                         f"cannot parse {shown} as a {width}-bit value")


def _max_digits(width: int, base: int) -> int:
    return len(format((1 << width) - 1, "x" if base == 16 else "d"))


def parse(token: bytes | str, *, decimal: bool = False, width: int = 64) -> int:
    """The value of one token (surrounding ASCII whitespace allowed); :class:`TokenError` if none.

    >>> parse("0x800"), parse(b"ff"), parse("255", decimal=True), parse("0x10", decimal=True)
    (2048, 255, 255, 16)
    """
    if isinstance(token, str):
        try:
            raw = token.strip(_WS).encode("ascii")
        except UnicodeEncodeError:
            raise TokenError(token, "parse", width) from None
    else:
        raw = bytes(token).strip()
    body, base = raw, 10 if decimal else 16
    if body[:2] in (b"0x", b"0X"):
        body, base = body[2:], 16
    if b"_" in body:
        if body[:1] == b"_" or body[-1:] == b"_" or b"__" in body:
            raise TokenError(token, "parse", width)
        body = body.replace(b"_", b"")
    if not body or body.translate(None, HEX_DIGITS if base == 16 else DEC_DIGITS):
        raise TokenError(token, "parse", width)
    significant = body.lstrip(b"0")
    if len(significant) > _max_digits(width, base):
        raise TokenError(token, "range", width)
    value = int(significant or b"0", base)
    if value >> width:
        raise TokenError(token, "range", width)
    return value


def _reduce(carry: bytes, decimal: bool, width: int) -> tuple[bytes, Reason | None]:
    """A long partial token cut to what decides its value, or the reason it can never be one."""
    prefix, body, base = b"", carry, 10 if decimal else 16
    if body[:2] in (b"0x", b"0X"):
        prefix, body, base = body[:2], body[2:], 16
    tail = b"_" if body[-1:] == b"_" else b""  # the next block may go on with a digit
    if body[:1] == b"_" or b"__" in body:
        return b"", "parse"
    body = body.replace(b"_", b"")
    if body.translate(None, HEX_DIGITS if base == 16 else DEC_DIGITS):
        return b"", "parse"
    significant = body.lstrip(b"0")
    if len(significant) > _max_digits(width, base):
        return b"", "range"
    # Two zeros keep "0" + "x..." in the next block from reading as a hex prefix.
    return prefix + b"00" + significant + tail, None


def stream_values(stream: BinaryIO, bad: Bad, *, decimal: bool = False, width: int = 64,
                  first_line: int = 1, chunk: int = CHUNK) -> Iterator[list[int]]:
    """The values of a byte stream, a list per block read, in order; ``bad(line, token, reason)``
    for each bad token.  Values read before a bad token are yielded before ``bad`` is called,
    so a ``bad`` that raises (``--strict``) loses nothing already valid.

    >>> import io
    >>> list(stream_values(io.BytesIO(b"0x1, 2\\n+3 4"), lambda n, t, r: print(n, t, r)))
    2 b'+3' parse
    [[1, 2], [4]]
    """
    for values, _ in _blocks(stream, bad, decimal, width, first_line, chunk, False):
        yield values


def stream_words(stream: BinaryIO, bad: Bad, *, decimal: bool = False, width: int = 64,
                 first_line: int = 1, chunk: int = CHUNK) -> Iterator[tuple[list[int], list[str] | None]]:
    """:func:`stream_values`, each block with its tokens' text when the block is in the common
    shape (lowercase hex digits without ``0x``, at most ``width // 4`` of them per token), else
    None: a renderer prints such a value as ``"0x" + text.zfill(width // 4)``, no formatting.

    >>> import io
    >>> list(stream_words(io.BytesIO(b"1f\\n0a\\n"), print)), list(stream_words(io.BytesIO(b"0x1f"), print))
    ([([31, 10], ['1f', '0a'])], [([31], None)])
    """
    return _blocks(stream, bad, decimal, width, first_line, chunk, not decimal)


# In a block of these characters' absence, str.split() splits as bytes.split() (it also splits
# at \x1c-\x1f) and int(token, 16) takes exactly the grammar's lowercase hex without a prefix.
_NOT_PLAIN = ("x", "X", "A", "B", "C", "D", "E", "F", "+", "-", "_", "\x1c", "\x1d", "\x1e", "\x1f")
_BLANKS = tuple(SEPARATORS.replace(b"\n", b"").decode())  # separators other than LF


def _blocks(stream: BinaryIO, bad: Bad, decimal: bool, width: int, first_line: int, chunk: int,
            texts: bool) -> Iterator[tuple[list[int], list[str] | None]]:
    """The reader behind :func:`stream_values` and :func:`stream_words` (``texts``)."""
    maxv = (1 << width) - 1
    base = 10 if decimal else 16
    digits = width // 4
    short = _max_digits(width, 16) + 2 if not decimal else _max_digits(width, 10) - 1
    line = first_line
    carry = b""
    carry_line = line
    head = b""  # the start of a reduced token, for its message
    skipping: Reason | None = None  # the reason the token being skipped is bad

    def value(tok: bytes) -> int | None:
        # int() accepts signs, '_' and (with base 16) the 0x prefix; the grammar takes only the prefix.
        if len(tok) <= short and tok[0] not in b"+-" and b"_" not in tok:
            try:
                if decimal and tok[:2] not in (b"0x", b"0X"):
                    v = int(tok, 10)
                else:
                    v = int(tok, 16)
            except ValueError:
                return None
            return v if v <= maxv else None
        try:
            return parse(tok, decimal=decimal, width=width)
        except TokenError:
            return None

    def reason(tok: bytes) -> Reason:
        try:
            parse(tok, decimal=decimal, width=width)
        except TokenError as e:
            return e.reason
        return "range"  # pragma: no cover - value() refused it only for range

    while True:
        block = stream.read(chunk)
        if not block:
            break
        if skipping is not None:
            ends = block.translate(_SEP_TABLE)
            cut = ends.find(b" ")
            if cut < 0:
                continue
            line_of_bad = carry_line
            bad_reason = skipping
            skipping = None
            line += block.count(b"\n", 0, cut)
            block = block[cut:]
            bad(line_of_bad, head, bad_reason)
        data = carry + block
        # The last separator: the last LF, or one after it (only the short tail is translated).
        lf = data.rfind(b"\n")
        after = data[lf + 1:].translate(_SEP_TABLE).rfind(b" ")
        cut = lf + 1 + after if after >= 0 else lf
        if cut < 0:  # still inside one token
            carry = data
            if len(carry) > CARRY_MAX:
                if not head:
                    head = carry[:HEAD]
                carry, why = _reduce(carry, decimal, width)
                if why is not None:
                    skipping = why
            continue
        complete, carry = data[:cut], data[cut + 1:]
        sep_is_lf = data[cut] == 0x0A
        # The common block: plain tokens, all valid.  Without '+', '-' or '_', int() of a token
        # accepts exactly the grammar (ASCII digits, an optional 0x), so the block costs one
        # int() per token and no Python loop; anything else (a bad token, a value too wide)
        # reads the block again below, token by token, so errors name their line.
        fast: list[int] | None = None
        words: list[str] | None = None
        line_ends: int | None = None  # in `complete`, where its split tells them
        if texts and complete.isascii():
            plain = complete.decode("ascii")
            if not any(c in plain for c in _NOT_PLAIN):
                if "\n" not in (plain[:1], plain[-1:]) and "\n\n" not in plain and not any(c in plain for c in _BLANKS):
                    words = plain.split("\n")  # one value per line (the usual input): the lines are the tokens
                    line_ends = len(words) - 1
                else:
                    words = (plain.replace(",", " ") if "," in plain else plain).split()
                try:
                    fast = list(map(int, words, repeat(16, len(words))))
                except ValueError:
                    fast = words = line_ends = None
                if words and max(map(len, words)) > digits:
                    fast = words = line_ends = None
        if fast is None and b"+" not in complete and b"-" not in complete and b"_" not in complete:
            toks = (complete.replace(b",", b" ") if b"," in complete else complete).split()
            try:
                fast = list(map(int, toks, repeat(base, len(toks))))
            except ValueError:
                fast = None
            if fast and max(fast) > maxv:
                fast = None
        if fast is not None:
            line += (complete.count(b"\n") if line_ends is None else line_ends) + sep_is_lf
            carry_line = line
            if fast:
                head = b""
                yield fast, words
            continue
        out: list[int] = []
        # Without '+', '-' or '_' in the block, int() of a whole line accepts exactly the grammar
        # (ASCII digits, 0x, surrounding blanks): one value per line, the common case, costs one int().
        simple = b"+" not in complete and b"-" not in complete and b"_" not in complete
        for text in complete.split(b"\n"):
            if simple:
                try:
                    whole = int(text, base)
                except ValueError:
                    whole = -1
                if 0 <= whole <= maxv:
                    head = b""
                    out.append(whole)
                    line += 1
                    continue
            if text:
                for tok in text.replace(b",", b" ").split():
                    v = value(tok)
                    if v is None:
                        if out:
                            yield out, None
                            out = []
                        bad(line, head or tok, reason(tok))
                        head = b""
                        continue
                    head = b""
                    out.append(v)
            line += 1
        line -= 1  # the last piece of `complete` did not end in LF
        if sep_is_lf:
            line += 1
        carry_line = line
        if out:
            yield out, None
    if skipping is not None:
        bad(carry_line, head, skipping)
    elif carry.strip():
        v = value(carry)
        if v is None:
            bad(line, head or carry, reason(carry))
        else:
            yield [v], None


def values_of(data: bytes, bad: Bad, *, decimal: bool = False, width: int = 64, line: int = 1) -> list[int]:
    """The values in ``data`` (e.g. one command-line argument), by the same grammar."""
    import io

    return [v for block in stream_values(io.BytesIO(data), bad, decimal=decimal, width=width,
                                         first_line=line) for v in block]
