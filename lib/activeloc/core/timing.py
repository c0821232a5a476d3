"""Wall-clock timing (one helper instead of hand-written ``perf_counter`` pairs), and whether
long work may show progress here."""

from __future__ import annotations

import multiprocessing
import time
from contextlib import contextmanager
from dataclasses import dataclass

# The wall-clock columns of the package's tables (what a rerun never reproduces to the bit); the
# annotation-time columns (``seconds_labelled``, ``aulc_seconds``, ...) are not among them.
WALL_CLOCK_COLUMNS = frozenset({"seconds", "fit_seconds", "select_seconds", "evaluate_seconds", "predict_seconds",
                                "bootstrap_seconds"})


@dataclass
class Elapsed:
    """Seconds spent in a :func:`timed` block (set when the block ends)."""

    seconds: float = float("nan")


@contextmanager
def timed():
    """``with timed() as t: ...`` then ``t.seconds``."""
    elapsed = Elapsed()
    start = time.perf_counter()
    try:
        yield elapsed
    finally:
        elapsed.seconds = time.perf_counter() - start


def in_worker_process() -> bool:
    """True inside a worker started by multiprocessing (joblib's loky, a Dask nanny): there,
    progress bars would only interleave in the parent's log, so long work stays quiet."""
    return multiprocessing.parent_process() is not None
