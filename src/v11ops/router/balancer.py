"""Choosing a target for each request: smooth weighted round robin, or a sticky hash.

Smooth weighted round robin (the algorithm nginx uses) is exact per request: with weights 90/10,
every run of 10 consecutive requests sends exactly one to the 10 % target, and the picks are
spread out rather than bunched. A sticky key (header or cookie value) is hashed onto the
cumulative weights instead, so a user stays on one target while the weights stand.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Generic, Protocol, TypeVar


class Candidate(Protocol):
    """What the balancer needs to know about a target."""

    draining: bool
    ejected_until: float  # 0.0 when not ejected: lets the hot path skip a call

    def is_ejected(self) -> bool: ...


T = TypeVar("T", bound=Candidate)


class _Entry(Generic[T]):
    __slots__ = ("current", "target", "weight")

    def __init__(self, target: T, weight: int) -> None:
        self.target = target
        self.weight = weight
        self.current = 0


class Balancer(Generic[T]):
    """Per-request choice among weighted targets; built anew on every switch."""

    __slots__ = ("_entries",)

    def __init__(self, weighted: Sequence[tuple[T, int]]) -> None:
        self._entries: list[_Entry[T]] = [_Entry(t, w) for t, w in weighted if w > 0]

    def __bool__(self) -> bool:
        return bool(self._entries)

    def pick(self, exclude: T | None = None) -> T | None:
        """Next target by smooth weighted round robin, skipping draining and ejected ones.

        If every usable target is ejected, the ejection is ignored: trying a target that failed
        a moment ago beats refusing the request outright.
        """
        chosen = self._swrr(exclude, skip_ejected=True)
        if chosen is None:
            chosen = self._swrr(exclude, skip_ejected=False)
        return chosen

    def pick_sticky(self, key: bytes, exclude: T | None = None) -> T | None:
        """The target that `key` hashes to, proportionally to the weights."""
        usable = [e for e in self._entries if self._usable(e, exclude, skip_ejected=True)]
        if not usable:
            usable = [e for e in self._entries if self._usable(e, exclude, skip_ejected=False)]
        if not usable:
            return None
        total = sum(e.weight for e in usable)
        point = zlib.crc32(key) * total >> 32
        for entry in usable:
            point -= entry.weight
            if point < 0:
                return entry.target
        return usable[-1].target

    @staticmethod
    def _usable(entry: _Entry[T], exclude: object, *, skip_ejected: bool) -> bool:
        target = entry.target
        if target is exclude or target.draining:
            return False
        return not (skip_ejected and target.is_ejected())

    def _swrr(self, exclude: T | None, *, skip_ejected: bool) -> T | None:
        best: _Entry[T] | None = None
        total = 0
        for entry in self._entries:
            target = entry.target
            if target is exclude or target.draining:
                continue
            if skip_ejected and target.ejected_until and target.is_ejected():
                continue
            entry.current += entry.weight
            total += entry.weight
            if best is None or entry.current > best.current:
                best = entry
        if best is None:
            return None
        best.current -= total
        return best.target
