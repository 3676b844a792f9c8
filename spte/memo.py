"""Bounded memos that input which never repeats cannot fill.

A memo of readings keyed by values (or by the bits of a value that decide its text) must stay
bounded, and must not be cleared when full: clearing made random input pay for misses and
refills in turn.  Kept until full, it holds whatever came first: a burst of values that never
repeat (random words, a corrupt dump, a guest that scribbles on its page tables) would take
every slot and leave the values that recur after it to be read again on every use.  So a
:class:`Memo` admits a key on its second offer only: the hashes of keys offered once are
remembered in a set of the memo's own bound, emptied when full (it only filters: a key that
recurs before the set is next emptied is admitted, and one that misses its chance has the next
one when it recurs again), and values that never repeat never reach the memo.  Memory stays
bounded, whatever the input.

>>> m: Memo[int, str] = Memo(2)
>>> m.offer(7), m.offer(7)
(False, True)
>>> m[7] = "seven"
>>> m.keep(1, "one"), m.keep(2, "two"), m.keep(3, "three")  # the set (of 2) is emptied at 3
(False, False, False)
>>> m.keep(1, "one")  # forgotten when the set was emptied
False
>>> m.keep(3, "three")  # offered before: kept, and the memo is full
True
>>> m.keep(1, "one")
False
>>> sorted(m.items())
[(3, 'three'), (7, 'seven')]
"""

from __future__ import annotations

from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Memo(dict[K, V]):
    """A dict of at most ``cap`` entries, never cleared, that admits a key on its second offer."""

    def __init__(self, cap: int) -> None:
        super().__init__()
        self.cap = cap
        self.seen: set[int] = set()  # hashes of the keys offered once since the set was last emptied

    def offer(self, key: K) -> bool:
        """Whether to store a value for ``key`` now: there is room and it was offered before
        (else the offer is remembered).  The caller builds the value only then."""
        if len(self) >= self.cap:
            return False
        seen, h = self.seen, hash(key)
        if h in seen:
            seen.discard(h)
            return True
        if len(seen) >= self.cap:
            seen.clear()
        seen.add(h)
        return False

    def keep(self, key: K, value: V) -> bool:
        """Store ``value`` for ``key`` if :meth:`offer` says so; whether it was stored."""
        if self.offer(key):
            self[key] = value
            return True
        return False
