"""The one retry policy: a call cut by a passing fault is repeated after short, growing pauses.

Used for storage calls cut by a dropped database connection (:mod:`automl.storage`), for two
processes creating one MLflow experiment at once (:mod:`automl.tracking`), and for trials cut by
a dropped connection (:mod:`automl.session`): three repeats, after 0.2, 1 and 3 seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

#: Pauses before each repeat; after the last one, the fault is raised.
PAUSES_S = (0.2, 1.0, 3.0)
_T = TypeVar("_T")


def pause(repeat: int) -> bool:
    """Sleep before repeat number ``repeat`` (1 for the first); ``False`` (no sleep) when the
    policy allows no more repeats."""
    if not 1 <= repeat <= len(PAUSES_S):
        return False
    time.sleep(PAUSES_S[repeat - 1])
    return True


def repeat(call: Callable[[], _T], transient: Callable[[Exception], bool]) -> _T:
    """``call()``, repeated after each pause while it raises an exception ``transient`` accepts;
    any other exception, or the last repeat's, is raised.

    >>> tries = []
    >>> repeat(lambda: tries.append(1) or len(tries), lambda exc: True)
    1
    """
    attempt = 0
    while True:
        try:
            return call()
        except Exception as exc:
            attempt += 1
            if not transient(exc) or not pause(attempt):
                raise
