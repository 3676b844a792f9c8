"""Walking page-table trees in memory images, and finding their roots.

``walk(memory, root, format, ...)`` yields a :class:`Visit` per entry; ``translate`` gives
the walk of one address; ``coalesce`` and ``check`` turn visits into ptdump-like ranges
and anomalies; ``NestedMemory`` makes a guest's physical memory walkable through an
EPT/NPT tree; ``find_roots`` proposes roots with their evidence.
"""

from spte.walker.core import (
    Anomaly,
    NestedMemory,
    OwnerView,
    Range,
    Translation,
    Visit,
    Walker,
    WalkStats,
    check,
    coalesce,
    owner_view,
    root_table,
    table_geometry,
    translate,
    walk,
)
from spte.walker.roots import Candidate, find_roots, search_upwards

__all__ = ["Anomaly", "Candidate", "NestedMemory", "OwnerView", "Range", "Translation", "Visit", "WalkStats",
           "Walker", "check", "coalesce", "find_roots", "owner_view", "root_table", "search_upwards",
           "table_geometry", "translate", "walk"]
