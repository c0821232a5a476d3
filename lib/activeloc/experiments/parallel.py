"""Where parallel work runs: local processes (joblib) or an existing Dask cluster, one switch for all.

Both the grid of loop runs and LAL's Monte-Carlo bootstrap go through joblib; inside
:func:`parallel_backend` joblib's default backend is either ``n_jobs`` local processes or every
worker of the Dask cluster at ``scheduler`` (joblib's Dask backend), so nothing else needs to know.
"""

from __future__ import annotations

from contextlib import contextmanager

import joblib
from joblib import Parallel, delayed
from tqdm.auto import tqdm


@contextmanager
def parallel_backend(n_jobs: int | None = 1, scheduler: str | None = None):
    """joblib's default backend within: ``n_jobs`` local processes, or the Dask cluster at ``scheduler``."""
    if scheduler:
        from dask.distributed import Client

        with Client(scheduler), joblib.parallel_config(backend="dask", n_jobs=-1):
            yield
    else:
        with joblib.parallel_config(n_jobs=n_jobs):
            yield


def run_each(function, items, *, n_jobs: int | None = 1, scheduler: str | None = None, desc: str = "",
             unit: str = "item", **kwargs) -> list:
    """``function(item, **kwargs)`` for every item, in parallel, with a progress bar that counts
    finished items; results in completion order."""
    items = list(items)
    with parallel_backend(n_jobs, scheduler):
        results = Parallel(return_as="generator_unordered")(delayed(function)(item, **kwargs) for item in items)
        return list(tqdm(results, total=len(items), desc=desc, unit=unit))
