"""Handing memory freed into the C heap back to the system.

glibc serves allocations under 32 MiB from its heap and keeps the pages of what is freed there:
the many small arrays of a big table being parsed or encoded stay resident after they are gone.
Measured on ten million rows: joining the parsed chunks held 7.7 GiB instead of 4.5, and a
prepared search 8.6 GiB instead of 5.2.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None).malloc_trim  # type: ignore[no-any-return]
    except (AttributeError, OSError):  # not glibc: its allocator returns memory its own way
        return None


def release_free_memory() -> None:
    """Return the C heap's free pages to the system (glibc's ``malloc_trim``; elsewhere,
    nothing). Costs milliseconds; call it after dropping large amounts of small arrays."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
