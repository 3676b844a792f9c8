"""Which kernels could have made these values?  (``spte.kvm.identify``)

Every release from 5.4 to 7.1 (and the 5.4.y point releases that changed SPTEs) is
tried with every MMU flavour: a (release, flavour) stays a candidate if each value is a
value that release builds (:meth:`~spte.kvm.analysis.Analysis.plausibility`) and each
trace event seen exists in that release.  Consecutive releases that survive for a flavour
form one :class:`Candidate` (``releases`` = first and last), newest first; each candidate
carries the evidence that excluded its neighbours, so a user sees why the answer is
narrower than "any kernel".

>>> c = identify([(0x8600000001234b77, 1)])[0]
>>> c.releases, c.flavour
(('6.10', '7.1'), 'ept-ad')
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from spte.kvm.profiles import KvmProfile, profile
from spte.kvm.releases import FLAVOURS, RELEASES, SPECS, release_key

# Trace events that appeared in a release: (event, first release, which flavours emit it).
EVENTS_SINCE = {
    "kvm_tdp_mmu_spte_changed": ("5.11", ("ept-ad", "ept-noad", "npt"), "the TDP MMU tracepoint"),
    "kvm_mmu_split_huge_page": ("5.16", FLAVOURS, "eager huge-page splitting (absent in 5.15)"),
}
# 5.4.y point-release ranges that changed SPTEs (mainline "5.4" is 5.4.0-5.4.18).
POINT_RANGES = (("5.4.31", ("5.4.19", "5.4.48")), ("5.4.49", ("5.4.49", "5.4.84")), ("5.4.85", ("5.4.85", "5.4.y")))


@dataclass(frozen=True)
class Candidate:
    """A range of releases and a flavour that could have produced every value."""

    releases: tuple[str, str]  # first and last release of the range
    flavour: str
    change_points: tuple[str, ...]  # the profiles the range spans, oldest first
    evidence: tuple[str, ...] = ()  # why the neighbours were excluded / what the values show
    excluded_by: tuple[str, ...] = field(default=(), compare=False)  # for identify_all(): why not

    @property
    def kvm(self) -> str:
        """The ``--kvm`` argument of the newest release in the range."""
        last = self.releases[1]
        return f"{'5.4.286' if last == '5.4.y' else last}:{self.flavour}"

    def to_json(self) -> dict[str, Any]:
        return {"releases": list(self.releases), "flavour": self.flavour, "change_points": list(self.change_points),
                "evidence": list(self.evidence)}


def _event_reasons(flavour: str, events: set[str], release: str) -> list[str]:
    out = []
    for ev in sorted(events & set(EVENTS_SINCE)):
        first, flavours, what = EVENTS_SINCE[ev]
        if release_key(release.replace("5.4.y", "5.4.999")) < release_key(first):
            out.append(f"`{ev}` exists ({what}): {first} or later")
        elif flavour not in flavours:
            out.append(f"`{ev}` exists ({what}): not emitted by the {flavour} MMU")
    return out


def _value_reasons(profiles: list[KvmProfile], values: list[tuple[int, int]]) -> list[str]:
    """Empty if one of the host variants builds every value, else the first variant's first reason."""
    first: list[str] = []
    for p in profiles:
        for value, level in values:
            reasons = p.plausibility(value, level)
            if reasons:
                first = first or [f"{value:#x} (level {level}): {reasons[0]}"]
                break
        else:
            return []
    return first


def _ranges(releases: list[str]) -> str:
    """'5.4-5.9, 6.1' for a list of releases in RELEASES order."""
    order = {r: i for i, r in enumerate(RELEASES)}
    runs: list[list[str]] = []
    for r in releases:
        if runs and r in order and runs[-1][-1] in order and order[r] == order[runs[-1][-1]] + 1:
            runs[-1].append(r)
        else:
            runs.append([r])
    return ", ".join(run[0] if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs)


def _split(verdicts: list[tuple[str, str, list[str]]]) -> tuple[list[list[tuple[str, str]]], dict[str, list[str]]]:
    """Runs of consecutive consistent (release, change point)s, and the excluded releases per reason.

    A 5.4.y point range (``5.4.31-5.4.48``) always stands alone."""
    runs: list[list[tuple[str, str]]] = [[]]
    excluded: dict[str, list[str]] = {}
    for release, key, why in verdicts:
        if why or "-" in release:
            runs.append([])
        if why:
            excluded.setdefault(why[0], []).append(release)
        else:
            runs[-1].append((release, key))
            if "-" in release:
                runs.append([])
    return [r for r in runs if r], excluded


def _excluded_runs(verdicts: list[tuple[str, str, list[str]]], flavour: str) -> list[Candidate]:
    """One excluded Candidate per run of consecutive releases excluded for the same reason."""
    runs: list[tuple[list[tuple[str, str]], str]] = []
    previous: str | None = None
    for release, key, why in verdicts:
        reason = why[0] if why else None
        if reason is not None and reason == previous and "-" not in release and "-" not in runs[-1][0][-1][0]:
            runs[-1][0].append((release, key))
        elif reason is not None:
            runs.append(([(release, key)], reason))
        previous = reason
    return [Candidate((run[0][0].split("-")[0], run[-1][0].split("-")[-1]), flavour,
                      tuple(dict.fromkeys(k for _, k in run)), (), (reason,)) for run, reason in runs]


def identify_all(values: Iterable[tuple[int, int]], events: Iterable[str] = (), *, flavours: Iterable[str] = FLAVOURS,
                 **host: Any) -> list[Candidate]:
    """Every (release range, flavour), consistent or not; ``excluded_by`` says why not.

    ``values`` are (SPTE, level) pairs; ``events`` the names of trace events seen;
    ``host`` the keywords of :func:`spte.kvm.profile` (``maxphyaddr``, ``me_bit`` ...).
    """
    vals = list(dict.fromkeys((int(v), int(lv)) for v, lv in values))
    evs = set(events)
    out: list[Candidate] = []
    host = dict(host)
    given = host.pop("l1tf", None)
    l1tf = (True, False) if given is None else (bool(given),)  # MMIO SPTEs depend on it; unless given, either
    for flavour in flavours:
        by_point = {key: _value_reasons([profile(key, flavour, l1tf=x, **host) for x in l1tf], vals) for key in SPECS}
        timeline = [(release, key) for release, (key, _) in RELEASES.items()]
        timeline += [(f"{first}-{last}", key) for key, (first, last) in POINT_RANGES]
        verdicts = [(release, key, _event_reasons(flavour, evs, release.split("-")[0]) + by_point[key])
                    for release, key in timeline]
        runs, excluded = _split(verdicts)
        mine = [Candidate((run[0][0].split("-")[0], run[-1][0].split("-")[-1]), flavour,
                          tuple(dict.fromkeys(k for _, k in run))) for run in runs]
        evidence = tuple(f"not {_ranges(rs)} ({flavour}): {reason}" for reason, rs in excluded.items())
        out += [Candidate(c.releases, c.flavour, c.change_points, evidence) for c in mine]
        out += _excluded_runs(verdicts, flavour)
    return out


def newest_first(candidates: Iterable[Candidate]) -> list[Candidate]:
    """The consistent candidates, newest last release first, then fewest profiles, then flavour order."""
    def order(c: Candidate) -> tuple[Any, ...]:
        last = c.releases[1].replace("5.4.y", "5.4.999")
        return (release_key(last), -len(c.change_points), -FLAVOURS.index(c.flavour))

    return sorted((c for c in candidates if not c.excluded_by), key=order, reverse=True)


def identify(values: Iterable[tuple[int, int]], events: Iterable[str] = (), **kw: Any) -> list[Candidate]:
    """The (release range, flavour) combinations that could have produced every value,
    newest and narrowest first, each with the evidence for the exclusions around it.

    ``values`` are (SPTE, level) pairs, ``events`` the trace event names seen; keywords are
    ``flavours`` and the host inputs of :func:`spte.kvm.profile` (an unknown ``l1tf`` is
    tried both ways).  ``spte decode/trace --kvm auto`` use ``identify(...)[0].kvm``.
    """
    return newest_first(identify_all(values, events, **kw))


def auto_profile(values: Iterable[tuple[int, int]], events: Iterable[str] = (), **kw: Any
                 ) -> tuple[KvmProfile | None, list[Candidate]]:
    """``--kvm auto``: the profile of the newest release of the first candidate, and all candidates.

    ``kw`` are :func:`identify`'s keywords (``flavours`` and host inputs); the profile is built with
    the same host inputs.  Returns ``(None, [])`` when no release 5.4-7.1 builds every value.
    """
    found = identify(values, events, **kw)
    if not found:
        return None, found
    host = {k: v for k, v in kw.items() if k != "flavours"}
    version, _, flavour = found[0].kvm.partition(":")
    return profile(version, flavour, **host), found
