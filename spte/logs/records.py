"""Records: what one recognised value of a log is, before anyone renders it."""

from __future__ import annotations

from typing import Any, Protocol


class Groups(Protocol):
    """A line's printed conversions by name (a ``re.Match``, or the fast path's renaming of one)."""

    def __getitem__(self, name: str) -> bytes | None: ...


class Record:
    """One value a log line carries, with everything the line and its walk say about it.

    ``format``/``level`` are those the printout states (``level`` None for a register or a
    swap entry, or where the printout prints no level: ``decode_level`` then says which
    level the value is decoded at).  ``entry`` is False when the walk says the printer read
    past a leaf or a not-present entry.  ``role`` is ``"old"``/``"new"`` in transitions,
    ``label`` the printout's name for the value (``PGD``, ``*pde``, ``L3``).
    """

    __slots__ = ("line", "event", "owner", "value", "format", "level", "decode_level", "entry", "role", "label",
                 "notes", "rsvd", "_match", "_info")

    def __init__(self, line: int, event: str, owner: str, value: int, format: str, level: int | None,
                 decode_level: int | None = None, role: str | None = None, label: str | None = None,
                 match: Groups | None = None, info: tuple[str, ...] = ()) -> None:
        self.line = line
        self.event = event
        self.owner = owner
        self.value = value
        self.format = format
        self.level = level
        self.decode_level = decode_level if decode_level is not None else level
        self.entry = True
        self.role = role
        self.label = label
        self._match = match  # the line's match: other printed arguments are decoded only when asked for
        self._info = info
        self.notes: list[str] = []
        self.rsvd: dict[str, Any] | None = None  # the printed reserved mask and its comparison

    @property
    def args(self) -> dict[str, str]:
        """What else the line printed (gfn, sptep, errno, ...), as printed."""
        m = self._match
        if m is None:
            return {}
        return {k: v.decode("latin-1") for k in self._info if (v := m[k]) is not None}

    def __repr__(self) -> str:
        return (f"Record(line={self.line}, event={self.event!r}, value={self.value:#x}, format={self.format!r}, "
                f"level={self.level}, owner={self.owner!r}, entry={self.entry})")


class LineResult:
    """A recognised line: where it is, its records, or the error that says what it lacks."""

    __slots__ = ("start", "end", "line", "event", "records", "error", "note")

    def __init__(self, start: int, end: int, line: int, event: str, records: list[Record],
                 error: str | None = None) -> None:
        self.start = start
        self.end = end
        self.line = line
        self.event = event
        self.records = records
        self.error = error
        self.note: str | None = None  # what the line says about another line's value
