"""Read what the kernel printed: every KVM, Linux and Xen printout that carries page-table entries.

Recognisers (:mod:`spte.logs.grammar`: one declaration per printout, as data) -> records
(:mod:`spte.logs.reader`: line, event, value, format, level, owner, walk verdicts) ->
renderers (:mod:`spte.logs.render`).  Nothing here knows about argv or files.

>>> from spte.logs import Context, read_text
>>> recs = read_text("PGD 0 P4D 0 \\n", Context())
>>> [(r.label, r.level, r.entry) for r in recs]
[('PGD', 4, True), ('P4D', 4, True)]
"""

from __future__ import annotations

from spte.logs.context import Context, OwnerView
from spte.logs.grammar import BY_NAME, EVENTS, PRINTOUTS, Printout, Shape
from spte.logs.reader import PAST_LEAF, PAST_NOT_PRESENT, LogReader
from spte.logs.records import LineResult, Record
from spte.logs.render import Renderer

__all__ = ["BY_NAME", "EVENTS", "PAST_LEAF", "PAST_NOT_PRESENT", "PRINTOUTS", "Context", "LineResult", "LogReader",
           "OwnerView", "Printout", "Record", "Renderer", "Shape", "read_text"]


def read_text(text: str, ctx: Context | None = None) -> list[Record]:
    """Every record of ``text`` (a whole log), in order."""
    reader = LogReader(ctx or Context())
    return [rec for result in reader.scan(text.encode("utf-8", "surrogateescape")) for rec in result.records]
