"""Counts in the words of a message: ``1 row``, ``2,000 rows``."""

from __future__ import annotations


def counted(n: int, noun: str) -> str:
    """``n`` (thousands separated) and ``noun``, plural unless ``n`` is one.

    >>> counted(1, "row"), counted(2000, "row")
    ('1 row', '2,000 rows')
    """
    return f"{n:,} {noun}" + ("" if n == 1 else "s")
